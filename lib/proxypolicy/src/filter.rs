//! List responses cut down to anklume's objects: the projects of the
//! declared domains, the declared bridges, the instances of anklume
//! projects. A list is `metadata`, an array of URLs (`/1.0/projects/pro`)
//! or, with `recursion`, of objects.

use serde_json::Value;

use crate::declared::Declared;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFilter {
    Projects,
    Networks,
    /// `GET /1.0/instances?all-projects=true`.
    Instances,
}

/// Keeps, in the response's `metadata` array, only what `filter` lets the
/// client see. Anything that is not such a list becomes an empty list.
pub fn filter_list(filter: ListFilter, declared: &Declared, response: &mut Value) {
    let Some(metadata) = response.get_mut("metadata") else {
        return;
    };
    let Some(items) = metadata.as_array_mut() else {
        *metadata = Value::Array(Vec::new());
        return;
    };
    items.retain(|item| visible(filter, declared, item));
}

fn visible(filter: ListFilter, declared: &Declared, item: &Value) -> bool {
    let (name, project) = match item {
        Value::String(url) => from_url(url),
        Value::Object(o) => (
            o.get("name").and_then(Value::as_str).map(str::to_string),
            o.get("project").and_then(Value::as_str).map(str::to_string),
        ),
        _ => (None, None),
    };
    let Some(name) = name else { return false };
    match filter {
        ListFilter::Projects => declared.projects.contains_key(&name),
        ListFilter::Networks => declared.networks.contains_key(&name),
        ListFilter::Instances => project.is_some_and(|p| declared.projects.contains_key(&p)),
    }
}

/// `/1.0/instances/a?project=p` → (`a`, `p`); no `project` = `default`.
fn from_url(url: &str) -> (Option<String>, Option<String>) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let name = path.rsplit('/').next().map(str::to_string);
    let project = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("project="))
        .unwrap_or("default");
    (name, Some(project.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::declared::DeclaredProject;
    use serde_json::json;

    #[test]
    fn lists_keep_only_anklume_objects() {
        let mut d = Declared::default();
        d.projects.insert("pro".into(), DeclaredProject::default());
        let mut r = json!({"metadata": ["/1.0/projects/default", "/1.0/projects/pro"]});
        filter_list(ListFilter::Projects, &d, &mut r);
        assert_eq!(r["metadata"], json!(["/1.0/projects/pro"]));
        let mut r =
            json!({"metadata": [{"name": "a", "project": "pro"}, {"name": "b", "project": "x"}]});
        filter_list(ListFilter::Instances, &d, &mut r);
        assert_eq!(r["metadata"], json!([{"name": "a", "project": "pro"}]));
        let mut r = json!({"metadata": ["/1.0/instances/a", "/1.0/instances/b?project=pro"]});
        filter_list(ListFilter::Instances, &d, &mut r);
        assert_eq!(r["metadata"], json!(["/1.0/instances/b?project=pro"]));
        let mut r = json!({"metadata": {"x": 1}});
        filter_list(ListFilter::Networks, &d, &mut r);
        assert_eq!(r["metadata"], json!([]));
    }
}
