//! A second listener that requires credentials: how containers reach the broker. It is
//! bound to one address (the Docker bridge's gateway), never to every interface, so the
//! broker stays off outside networks while loopback stays open for local scripting.
//!
//! Each agent in a container has its own username (its agent name) and password. The
//! client id must belong to that agent too (`b00t-agent-<user>` or
//! `b00t-agent-<user>-…`), so one container cannot take over another agent's session.
//! Credentials are added and removed while the broker runs; only SHA-256 digests of the
//! passwords are kept.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

/// Usernames and password digests accepted by guarded listeners; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    users: Arc<RwLock<HashMap<String, [u8; 32]>>>,
}

impl Credentials {
    /// Accepts `user` with `password` from now on (replacing an earlier password).
    pub fn set(&self, user: &str, password: &str) {
        self.users
            .write()
            .expect("credentials lock")
            .insert(user.to_owned(), digest(password));
    }

    /// Stops accepting `user`. Connections already open stay until they close.
    pub fn remove(&self, user: &str) {
        self.users.write().expect("credentials lock").remove(user);
    }

    /// Whether this login may connect with this client id.
    pub fn verify(&self, client_id: &str, user: &str, password: &str) -> bool {
        let users = self.users.read().expect("credentials lock");
        let Some(stored) = users.get(user) else {
            return false;
        };
        let own = format!("b00t-agent-{user}");
        let id_ok = client_id == own
            || client_id
                .strip_prefix(&own)
                .is_some_and(|rest| rest.starts_with('-'));
        // Both digests have the same length; comparing digests reveals nothing useful
        // about the password.
        id_ok && *stored == digest(password)
    }
}

fn digest(password: &str) -> [u8; 32] {
    Sha256::digest(password.as_bytes()).into()
}

/// A listener that requires one of `credentials`.
#[derive(Clone, Debug)]
pub struct GuardedListener {
    pub listen: SocketAddr,
    pub credentials: Credentials,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_password_and_client_id_must_all_match() {
        let c = Credentials::default();
        c.set("family", "s3cret");
        assert!(c.verify("b00t-agent-family", "family", "s3cret"));
        assert!(c.verify("b00t-agent-family-tools", "family", "s3cret"));
        assert!(!c.verify("b00t-agent-family", "family", "wrong"));
        assert!(!c.verify("b00t-agent-main", "family", "s3cret"));
        assert!(!c.verify("b00t-agent-familyx", "family", "s3cret"));
        assert!(!c.verify("b00t-agent-main", "main", "s3cret"));
        c.remove("family");
        assert!(!c.verify("b00t-agent-family", "family", "s3cret"));
    }
}
