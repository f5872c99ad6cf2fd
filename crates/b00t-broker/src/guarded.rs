//! Usernames and passwords, checked on every listener: a CONNECT with a username must
//! carry its password, and one without is anonymous (refused on a guarded listener, the
//! one bound to the Docker bridge's gateway for containers; the gate decides the rest).
//! Which client ids a user may take is the gate's rule, not this store's. Credentials
//! are added and removed while the broker runs; only SHA-256 digests of the passwords
//! are kept.

use std::collections::HashMap;
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
            .unwrap_or_else(|p| p.into_inner())
            .insert(user.to_owned(), digest(password));
    }

    /// Stops accepting `user`. Connections already open stay until they close.
    pub fn remove(&self, user: &str) {
        self.users
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(user);
    }

    /// Whether `password` is `user`'s.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let users = self.users.read().unwrap_or_else(|p| p.into_inner());
        // Both digests have the same length; comparing digests reveals nothing useful
        // about the password.
        users
            .get(user)
            .is_some_and(|stored| *stored == digest(password))
    }
}

fn digest(password: &str) -> [u8; 32] {
    Sha256::digest(password.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_password_must_match() {
        let c = Credentials::default();
        c.set("family", "s3cret");
        assert!(c.verify("family", "s3cret"));
        assert!(!c.verify("family", "wrong"));
        assert!(!c.verify("main", "s3cret"));
        c.remove("family");
        assert!(!c.verify("family", "s3cret"));
    }
}
