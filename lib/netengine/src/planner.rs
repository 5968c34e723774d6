//! The table of the infra as it is now, rendered once per content: a
//! large infra takes a while to render, and every local user may ask for
//! its Preview, so the render is cached per infra content and host, and
//! callers asking at the same time share one render (issue 10, defect 7:
//! Previews must not stall Apply).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use anklume_hostnet::HostLinks;
use anklume_infra::{InfraError, InfraSource, NestingContext, load_valid};
use sha2::{Digest as _, Sha256};

use crate::kernel::Links;
use crate::plan::{Plan, PlanError};

/// Contents remembered (the one in force, and a few being edited).
const KEEP: usize = 4;

type Key = [u8; 32];
type Slot = Arc<Mutex<Option<Result<Arc<Plan>, PlanError>>>>;

pub struct Planner {
    infra: PathBuf,
    firewall_vm: bool,
    links: Arc<dyn Links>,
    /// Most recent last.
    cache: Mutex<Vec<(Key, Slot)>>,
}

impl Planner {
    pub fn new(infra: PathBuf, firewall_vm: bool, links: Arc<dyn Links>) -> Self {
        Self {
            infra,
            firewall_vm,
            links,
            cache: Mutex::new(Vec::new()),
        }
    }

    pub fn infra_path(&self) -> &Path {
        &self.infra
    }

    pub fn firewall_vm(&self) -> bool {
        self.firewall_vm
    }

    /// The host's interfaces and uplinks (not read in the firewall VM,
    /// whose NICs are all domains').
    pub fn links(&self) -> Result<HostLinks, PlanError> {
        if self.firewall_vm {
            return Ok(HostLinks::default());
        }
        Ok(self.links.read()?)
    }

    /// Reads the infra (and the nesting context, and the host's links) and
    /// gives its table: from the cache when this content was planned
    /// before, else rendered, once, however many callers ask meanwhile.
    /// An invalid infra's answer is cached too; an unreadable one is not.
    pub fn plan(&self) -> Result<Arc<Plan>, PlanError> {
        let links = self.links()?;
        let context = NestingContext::from_env();
        let Some(key) = self.key(&links, &context) else {
            return self.render(links, &context);
        };
        let slot = self.slot(key);
        let mut cached = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(answer) = &*cached {
            return answer.clone();
        }
        let answer = self.render(links.clone(), &context);
        let lasting = match &answer {
            Ok(_) => true,
            Err(PlanError::Infra(e)) => matches!(**e, InfraError::Invalid { .. }),
            Err(PlanError::Links(_)) => false,
        };
        // Kept only when the files did not change while they were read.
        if lasting && self.key(&links, &context) == Some(key) {
            *cached = Some(answer.clone());
        }
        answer
    }

    fn render(&self, links: HostLinks, context: &NestingContext) -> Result<Arc<Plan>, PlanError> {
        let infra = load_valid(&self.infra, context)?;
        Ok(Arc::new(Plan::new(
            Arc::new(infra),
            links,
            self.firewall_vm,
        )))
    }

    fn slot(&self, key: Key) -> Slot {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = match cache.iter().position(|(k, _)| *k == key) {
            Some(at) => cache.remove(at).1,
            None => Slot::default(),
        };
        cache.push((key, Arc::clone(&slot)));
        if cache.len() > KEEP {
            cache.remove(0);
        }
        slot
    }

    /// What the table depends on: the infra's bytes (every file of an
    /// `infra/` directory), the nesting context, the mode and the host's
    /// links. `None` when the infra cannot be read (never cached).
    fn key(&self, links: &HostLinks, context: &NestingContext) -> Option<Key> {
        let mut hash = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        field(&[u8::from(self.firewall_vm)]);
        field(format!("{context:?}").as_bytes());
        for name in links.names.iter().chain([&String::new()]) {
            field(name.as_bytes());
        }
        for name in &links.uplinks {
            field(name.as_bytes());
        }
        match InfraSource::locate(&self.infra).ok()? {
            InfraSource::File(path) => field(&std::fs::read(path).ok()?),
            InfraSource::Directory(dir) => {
                let mut files = Vec::new();
                walk(&dir, &mut files).ok()?;
                files.sort();
                for path in files {
                    field(path.as_os_str().as_encoded_bytes());
                    field(&std::fs::read(path).ok()?);
                }
            }
        }
        Some(hash.finalize().into())
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::FixedLinks;

    const INFRA: &str = "project_name: t\nglobal: {base_subnet: '10.9'}\ndomains:\n  a: {subnet_id: 1}\n  b: {subnet_id: 2}\n";

    #[test]
    fn one_content_is_rendered_once_and_an_edit_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("infra.yml");
        std::fs::write(&path, INFRA).unwrap();
        let planner = Planner::new(path.clone(), false, Arc::new(FixedLinks::default()));
        let first = planner.plan().unwrap();
        let again = planner.plan().unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the same content was rendered twice"
        );

        std::fs::write(
            &path,
            INFRA.replace("b: {subnet_id: 2}", "c: {subnet_id: 2}"),
        )
        .unwrap();
        let edited = planner.plan().unwrap();
        assert_ne!(edited.planned.hash, first.planned.hash);
        // Back to the first content: still cached.
        std::fs::write(&path, INFRA).unwrap();
        assert!(Arc::ptr_eq(&planner.plan().unwrap(), &first));
    }

    #[test]
    fn callers_at_the_same_time_share_one_render() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("infra.yml");
        std::fs::write(&path, INFRA).unwrap();
        let planner = Planner::new(path, false, Arc::new(FixedLinks::default()));
        let plans: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| planner.plan().unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(plans.iter().all(|p| Arc::ptr_eq(p, &plans[0])));
    }

    #[test]
    fn an_invalid_infra_is_an_error_and_a_missing_one_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("infra.yml");
        let planner = Planner::new(path.clone(), false, Arc::new(FixedLinks::default()));
        let Err(PlanError::Infra(e)) = planner.plan() else {
            panic!("a missing infra planned");
        };
        assert!(matches!(*e, InfraError::Source(_)), "{e}");
        std::fs::write(
            &path,
            "project_name: t\nglobal: {}\ndomains:\n  a: {subnet_id: 300}\n",
        )
        .unwrap();
        let err = planner.plan().unwrap_err();
        assert!(
            err.to_string().contains("subnet_id must be 0-254, got 300"),
            "{err}"
        );
        std::fs::write(&path, INFRA).unwrap();
        assert_eq!(planner.plan().unwrap().planned.domains, 2);
    }

    #[test]
    fn the_links_are_part_of_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("infra.yml");
        std::fs::write(&path, INFRA).unwrap();
        let links = Arc::new(crate::memory::FixedLinks::default());
        let planner = Planner::new(path, false, Arc::clone(&links) as Arc<dyn Links>);
        let before = planner.plan().unwrap();
        links.set(HostLinks {
            names: ["eth0".to_owned()].into(),
            uplinks: ["eth0".to_owned()].into(),
        });
        let after = planner.plan().unwrap();
        assert_ne!(before.planned.hash, after.planned.hash);
        assert!(
            after.planned.text.contains("\"eth0\""),
            "{}",
            after.planned.text
        );
    }
}
