//! Wiring of the AI services from the infra: a machine with a UI role
//! (`open_webui`, `lobechat`, `opencode_server`) gets the URL of the
//! Ollama it can reach, and `open_webui` also the URL of a speech-to-text
//! server, written into its host_vars (`ai_ollama_url`, `ai_stt_url`). The
//! roles read them through their defaults, so a user's own variable in
//! host_vars (outside the managed block) still wins.
//!
//! "In reach": the same machine, a machine of the same domain (a domain's
//! bridge is not filtered inside), or a machine of another domain that a
//! `network_policies` entry opens the port to. When a service exists but
//! no policy opens it, the sync warns and names the policy to add; when
//! the server it reaches across domains has no static IP, it warns too
//! (its name resolves only on its own bridge).

use anklume_infra::{Endpoint, Infra, Machine, NetworkPolicy, Ports, Protocol};

/// Ollama's API port.
pub const OLLAMA_PORT: u16 = 11434;
/// Speaches' port (its upstream default, OpenAI-compatible API).
pub const STT_PORT: u16 = 8000;

/// Roles that talk to an Ollama.
pub const OLLAMA_CLIENTS: &[&str] = &["open_webui", "lobechat", "opencode_server"];
/// Roles that use a speech-to-text server when one is in reach. Not
/// `lobechat`: its speech-to-text goes through its OpenAI provider
/// (`OPENAI_PROXY_URL`), the same setting as its OpenAI chat models, so
/// pointing it at Speaches would take those away (docs/ai-services.md).
pub const STT_CLIENTS: &[&str] = &["open_webui"];

/// One service a machine needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Ollama,
    Stt,
}

impl Service {
    fn role(self) -> &'static str {
        match self {
            Service::Ollama => "ollama_server",
            Service::Stt => "stt_server",
        }
    }

    fn port(self) -> u16 {
        match self {
            Service::Ollama => OLLAMA_PORT,
            Service::Stt => STT_PORT,
        }
    }

    /// The host_vars key written for it.
    pub fn key(self) -> &'static str {
        match self {
            Service::Ollama => "ai_ollama_url",
            Service::Stt => "ai_stt_url",
        }
    }

    fn url(self, host: &str) -> String {
        match self {
            Service::Ollama => format!("http://{host}:{}", self.port()),
            Service::Stt => format!("http://{host}:{}/v1", self.port()),
        }
    }
}

/// A UI that needs a service no policy lets it reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreachable {
    pub machine: String,
    pub service: Service,
    /// The closest server (first one declared).
    pub server: String,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let role = self.service.role();
        write!(
            f,
            "Machine '{}' needs {role} but no machine with it is in reach ('{}' is in another domain and no network policy opens port {}); add to network_policies: {{from: {}, to: {}, ports: [{}], protocol: tcp}} (or set {} in host_vars/{}.yml)",
            self.machine,
            self.server,
            self.service.port(),
            self.machine,
            self.server,
            self.service.port(),
            self.service.key(),
            self.machine,
        )
    }
}

/// A UI wired to a server in another domain that has no static IP: the
/// URL carries the server's name, which Incus' DNS answers only on the
/// server's own bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoAddress {
    pub machine: String,
    pub service: Service,
    pub server: String,
}

impl std::fmt::Display for NoAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Machine '{}' reaches {} on '{}' in another domain, but '{}' has no ip: its name resolves only on its own bridge, so the URL would not work; give '{}' a static ip (or set {} in host_vars/{}.yml)",
            self.machine,
            self.service.role(),
            self.server,
            self.server,
            self.server,
            self.service.key(),
            self.machine,
        )
    }
}

fn has_role(machine: &Machine, role: &str) -> bool {
    machine.roles.iter().flatten().any(|r| r == role)
}

fn needs(machine: &Machine, service: Service) -> bool {
    let clients = match service {
        Service::Ollama => OLLAMA_CLIENTS,
        Service::Stt => STT_CLIENTS,
    };
    clients.iter().any(|r| has_role(machine, r))
}

fn endpoint_covers(endpoint: &Endpoint, machine: &Machine) -> bool {
    match endpoint {
        Endpoint::Host => false,
        Endpoint::Domain(d) => *d == machine.domain,
        Endpoint::Machine { name, .. } => *name == machine.name,
    }
}

/// Whether `policy` lets `client` open a TCP connection to `port` of `server`.
fn opens(policy: &NetworkPolicy, client: &Machine, server: &Machine, port: u16) -> bool {
    let port_ok = match &policy.ports {
        Ports::All => true,
        Ports::List(ports) => ports.contains(&port),
    };
    let forward = endpoint_covers(&policy.from, client) && endpoint_covers(&policy.to, server);
    let backward = policy.bidirectional
        && endpoint_covers(&policy.to, client)
        && endpoint_covers(&policy.from, server);
    policy.protocol == Protocol::Tcp && port_ok && (forward || backward)
}

/// The address a client uses for a server: the server's IP, else its name
/// (Incus' DNS on the domain bridge), else loopback on the same machine.
fn host_of(client: &Machine, server: &Machine) -> String {
    match server.ip {
        Some(ip) => ip.to_string(),
        None if client.name == server.name => "127.0.0.1".to_owned(),
        None => server.name.clone(),
    }
}

/// The server `client` uses for `service` (the closest in reach):
/// `Ok(None)` when no machine has the service's role, `Err` when one
/// exists out of reach.
fn pick<'a>(
    infra: &'a Infra,
    client: &Machine,
    service: Service,
) -> Result<Option<&'a Machine>, Unreachable> {
    let servers: Vec<&Machine> = infra
        .machines()
        .filter(|m| has_role(m, service.role()))
        .collect();
    let policies = infra.network_policies.as_deref().unwrap_or_default();
    let rank = |server: &Machine| {
        if server.name == client.name {
            Some(0)
        } else if server.domain == client.domain {
            Some(1)
        } else if policies
            .iter()
            .any(|p| opens(p, client, server, service.port()))
        {
            Some(2)
        } else {
            None
        }
    };
    let best = servers
        .iter()
        .filter_map(|s| rank(s).map(|r| (r, *s)))
        .min_by_key(|(r, _)| *r);
    match (best, servers.first()) {
        (Some((_, server)), _) => Ok(Some(server)),
        (None, Some(server)) => Err(Unreachable {
            machine: client.name.clone(),
            service,
            server: server.name.clone(),
        }),
        (None, None) => Ok(None),
    }
}

/// Where `client` finds `service`: `Ok(Some(url))`, `Ok(None)` when no
/// machine has the service's role, `Err` when one exists out of reach.
pub fn resolve(
    infra: &Infra,
    client: &Machine,
    service: Service,
) -> Result<Option<String>, Unreachable> {
    Ok(pick(infra, client, service)?.map(|server| service.url(&host_of(client, server))))
}

/// The host_vars entries of `machine`, in order (Ollama, then STT).
pub fn host_vars_entries(infra: &Infra, machine: &Machine) -> Vec<(&'static str, String)> {
    [Service::Ollama, Service::Stt]
        .into_iter()
        .filter(|s| needs(machine, *s))
        .filter_map(|s| {
            resolve(infra, machine, s)
                .ok()
                .flatten()
                .map(|u| (s.key(), u))
        })
        .collect()
}

/// Each UI machine, each service it needs, and the server `pick` gives.
fn picks(
    infra: &Infra,
) -> impl Iterator<Item = (&Machine, Service, Result<Option<&Machine>, Unreachable>)> {
    infra.machines().flat_map(move |m| {
        [Service::Ollama, Service::Stt]
            .into_iter()
            .filter(move |s| needs(m, *s))
            .map(move |s| (m, s, pick(infra, m, s)))
    })
}

/// Every UI that needs a service present in the infra but out of reach.
pub fn unreachable(infra: &Infra) -> Vec<Unreachable> {
    picks(infra)
        .filter_map(|(_, _, picked)| picked.err())
        .collect()
}

/// Every UI wired to a server in another domain that has no static IP.
pub fn unaddressed(infra: &Infra) -> Vec<NoAddress> {
    picks(infra)
        .filter_map(|(m, s, picked)| match picked {
            Ok(Some(server)) if server.domain != m.domain && server.ip.is_none() => {
                Some(NoAddress {
                    machine: m.name.clone(),
                    service: s,
                    server: server.name.clone(),
                })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
#[path = "ai_wiring_tests.rs"]
mod tests;
