//! The keys with parsers of their own, called from their rows of the key
//! table: the genesis hash, host:port lists, `[[network.peers]]`, `rpc.auth`
//! with `rpc.token`, and the log level and format.

use net::PeerAddress;
use protocol::{Hash256, NodeId};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::read::{Doc, Found};
use super::{LogFormat, MIN_TOKEN_CHARS, RpcAuthMode};

impl<'a> Doc<'a> {
    pub(super) fn genesis_hash(&mut self, key: &'static str) -> Option<Hash256> {
        const FORM: &str = "a genesis hash of 64 hex digits";
        let (found, s) = self.string(key, FORM)?;
        let hash = Hash256::from_hex(s).ok();
        if hash.is_none() {
            self.expected(&found, FORM);
        }
        hash
    }

    pub(super) fn host_ports(&mut self, key: &'static str) -> Option<Vec<String>> {
        const FORM: &str = "host:port such as seed.example.org:24100";
        let found = self.find(key)?;
        let DeValue::Array(items) = found.value.get_ref() else {
            self.expected(&found, &format!("an array of \"{FORM}\" strings"));
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let element = Found { key: format!("{}[{i}]", found.key), value: item };
            match item.get_ref() {
                DeValue::String(s) if is_host_port(s) => out.push(s.to_string()),
                _ => self.expected(&element, FORM),
            }
        }
        (out.len() == items.len()).then_some(out)
    }

    /// `[[network.peers]]` (`key` is any key in it, `network.peers[].id`):
    /// each needs both `id` and `address`.
    pub(super) fn peers(&mut self, key: &'static str) -> Option<Vec<PeerAddress>> {
        let array = key.split_once("[]").map_or(key, |(array, _)| array);
        let found = self.find(array)?;
        // Anything but an array of tables was reported while vetting.
        let DeValue::Array(items) = found.value.get_ref() else {
            return None;
        };
        let mut peers = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let DeValue::Table(table) = item.get_ref() else {
                continue;
            };
            let shown = format!("{array}[{i}]");
            let id =
                self.peer_field(table, item, &shown, "id", "a node id of 64 hex digits", |s| {
                    s.parse::<NodeId>().ok()
                });
            let address = self.peer_field(
                table,
                item,
                &shown,
                "address",
                "host:port such as 127.0.0.1:24200",
                |s| is_host_port(s).then(|| s.to_owned()),
            );
            if let (Some(id), Some(address)) = (id, address) {
                peers.push(PeerAddress { id: Some(id), address });
            }
        }
        (peers.len() == items.len()).then_some(peers)
    }

    fn peer_field<T>(
        &mut self,
        table: &'a DeTable<'a>,
        item: &'a Spanned<DeValue<'a>>,
        shown: &str,
        name: &str,
        form: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let key = format!("{shown}.{name}");
        let Some(found) = self.find_in(table, name, key.clone()) else {
            let why = if name == "id" {
                "a peer without a known id belongs in network.bootstrap_peers"
            } else {
                "the host:port to dial"
            };
            self.problem(&key, item.span(), format!("{key}: required ({why})"));
            return None;
        };
        let parsed = match found.value.get_ref() {
            DeValue::String(s) => parse(s),
            _ => None,
        };
        if parsed.is_none() {
            self.expected(&found, form);
        }
        parsed
    }

    /// `rpc.auth` (`key`) with `rpc.token`: the token is required with
    /// `token` and refused otherwise, so a secret is never silently ignored.
    pub(super) fn rpc_auth(&mut self, key: &'static str) -> Option<RpcAuthMode> {
        let auth_found = self.find(key);
        let mode = match &auth_found {
            Some(_) => Some(self.choice(key, &RpcAuthMode::all().map(|mode| mode.name()))?),
            None => None,
        };
        let token = self.find("rpc.token");
        match (mode, token) {
            (Some("token"), Some(token)) => {
                let form = format!("a secret of at least {MIN_TOKEN_CHARS} characters");
                let secret = self.string_in(&token, &form)?;
                let chars = secret.chars().count();
                if chars < MIN_TOKEN_CHARS {
                    // Never echo a secret, even a bad one.
                    let message = format!("rpc.token: expected {form}, got {chars} characters");
                    self.problem("rpc.token", token.value.span(), message);
                    return None;
                }
                Some(RpcAuthMode::Token(secret.to_owned()))
            }
            (Some("token"), None) => {
                let span = auth_found.map(|f| f.value.span()).unwrap_or(0..0);
                let message = format!(
                    "rpc.token: required when rpc.auth = \"token\" (a secret of at least {MIN_TOKEN_CHARS} characters)"
                );
                self.problem("rpc.token", span, message);
                None
            }
            (mode, Some(token)) => {
                let mode = mode.unwrap_or("auto");
                let message = format!(
                    "rpc.token: only used when rpc.auth = \"token\" (rpc.auth is \"{mode}\"); \
                     set rpc.auth = \"token\" or remove rpc.token"
                );
                self.problem("rpc.token", token.value.span(), message);
                None
            }
            (Some("none"), None) => Some(RpcAuthMode::None),
            (Some("cookie"), None) => Some(RpcAuthMode::Cookie),
            (_, None) => Some(RpcAuthMode::Auto),
        }
    }

    /// A level name, or a filter directive (anything with `=` or `,`) that
    /// `tracing` accepts. A bare word that is not a level is refused rather
    /// than taken as a target name, so `level = "verbose"` is caught.
    pub(super) fn log_level(&mut self, key: &'static str) -> Option<String> {
        const FORM: &str =
            "trace, debug, info, warn, error, off or a filter such as info,net=debug";
        let (found, s) = self.string(key, FORM)?;
        let is_level = ["trace", "debug", "info", "warn", "error", "off"]
            .iter()
            .any(|level| level.eq_ignore_ascii_case(s.trim()));
        let is_directive = (s.contains('=') || s.contains(','))
            && tracing_subscriber::EnvFilter::builder().parse(s).is_ok();
        if is_level || is_directive {
            Some(s.to_owned())
        } else {
            self.expected(&found, FORM);
            None
        }
    }

    /// One of [`LogFormat::ALL`], by name.
    pub(super) fn log_format(&mut self, key: &'static str) -> Option<LogFormat> {
        let name = self.choice(key, &LogFormat::ALL.map(LogFormat::name))?;
        LogFormat::ALL.into_iter().find(|format| format.name() == name)
    }
}

/// `host:port` with a non-empty host (IPv6 in brackets) and a port that can
/// be dialled.
fn is_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    let host_ok = match host.strip_prefix('[') {
        Some(inner) => {
            inner.strip_suffix(']').is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
        }
        None => !host.is_empty() && !host.contains(':') && !host.contains(char::is_whitespace),
    };
    host_ok && port.parse::<u16>().is_ok_and(|p| p != 0)
}
