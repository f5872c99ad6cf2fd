//! Operator signatures: an HMAC-SHA256 over a task's address, id, timestamp and body, with
//! a key generated into the home's state folder (mode 0600) on first use. A signed task is
//! the operator's and is trusted past the policy; the timestamp window and the (address,
//! id) in the signed text stop a signature from being replayed on another task, and
//! [`Replays`] from being used twice. Nothing here is particular to the installer: the
//! container CI agents' actions are signed the same way (`b00t ci restart` signs).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use crate::InstallerError;

/// The body field that carries a signature.
pub const FIELD: &str = "signature";

/// What versions the signed text: bumped if its layout ever changes.
const DOMAIN: &str = "b00t-install/1";

/// `{"ts": <unix ms>, "hmac": "<hex>"}` inside a signed task's body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    pub ts: u64,
    pub hmac: String,
}

/// Why a signature was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature is malformed ({0}); sign tasks with `b00t install` or `b00t ci`")]
    Malformed(String),
    #[error("the signature does not verify: it was made with another key or for another task; sign with this home's key (`b00t install` and `b00t ci` do)")]
    Mismatch,
    #[error("the signature is {age} old, outside the {window} window: a replay, or a clock out of step; sign a new task")]
    Expired { age: String, window: String },
    #[error("the signature was already used by task `{id}`: a replay; sign a new task")]
    Replayed { id: String },
}

/// The operator's key: 32 random bytes, stored as hex.
#[derive(Clone)]
pub struct OperatorKey {
    bytes: [u8; 32],
}

impl std::fmt::Debug for OperatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OperatorKey(…)")
    }
}

impl OperatorKey {
    /// Reads the key at `path`, or makes it (mode 0600) when there is none.
    pub fn load_or_create(path: &Path) -> Result<OperatorKey, InstallerError> {
        match OperatorKey::load(path) {
            Err(InstallerError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                OperatorKey::create(path)
            }
            other => other,
        }
    }

    /// Reads an existing key; refuses one that others can read.
    pub fn load(path: &Path) -> Result<OperatorKey, InstallerError> {
        let io = |source| InstallerError::Io {
            path: path.to_owned(),
            source,
        };
        let text = fs_err::read_to_string(path).map_err(&io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs_err::metadata(path).map_err(&io)?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(InstallerError::KeyExposed {
                    path: path.to_owned(),
                    mode: mode & 0o777,
                });
            }
        }
        let raw = hex::decode(text.trim()).map_err(|_| InstallerError::KeyCorrupt {
            path: path.to_owned(),
        })?;
        let bytes: [u8; 32] = raw.try_into().map_err(|_| InstallerError::KeyCorrupt {
            path: path.to_owned(),
        })?;
        Ok(OperatorKey { bytes })
    }

    fn create(path: &Path) -> Result<OperatorKey, InstallerError> {
        let io = |source| InstallerError::Io {
            path: path.to_owned(),
            source,
        };
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| io(std::io::Error::other(e.to_string())))?;
        if let Some(dir) = path.parent() {
            // The state folder: `b00t install` may be the first to make it.
            b00t_config::home::private_dir(dir).map_err(&io)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(mut file) => {
                file.write_all(hex::encode(bytes).as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(io)?;
                Ok(OperatorKey { bytes })
            }
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => OperatorKey::load(path),
            Err(e) => Err(io(e)),
        }
    }

    #[cfg(test)]
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> OperatorKey {
        OperatorKey { bytes }
    }

    fn mac(&self, address: &str, id: &str, ts: u64, body: &Value) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.bytes).expect("HMAC takes a key of any size");
        let text = signed_text(address, id, ts, body);
        mac.update(text.as_bytes());
        mac
    }

    /// Signs `body` for task `id` on `address` at `ts` (unix ms) and returns the body with
    /// its `signature` field set.
    pub fn sign(&self, address: &str, id: &str, ts: u64, body: &Value) -> Value {
        let hmac = hex::encode(self.mac(address, id, ts, body).finalize().into_bytes());
        let mut signed = body.clone();
        if let Value::Object(map) = &mut signed {
            map.insert(
                FIELD.to_owned(),
                serde_json::to_value(Signature { ts, hmac }).expect("serializes"),
            );
        }
        signed
    }

    /// Checks `signature` over `body` (its own `signature` field ignored) for task `id` on
    /// `address`, at `now` (unix ms), within `window`.
    pub fn verify(
        &self,
        address: &str,
        id: &str,
        body: &Value,
        signature: &Signature,
        now: u64,
        window: Duration,
    ) -> Result<(), SignatureError> {
        let given = hex::decode(&signature.hmac)
            .map_err(|_| SignatureError::Malformed("`hmac` is not hex".into()))?;
        self.mac(address, id, signature.ts, body)
            .verify_slice(&given)
            .map_err(|_| SignatureError::Mismatch)?;
        let age = now.abs_diff(signature.ts);
        if u128::from(age) > window.as_millis() {
            return Err(SignatureError::Expired {
                age: humanize(Duration::from_millis(age)),
                window: humanize(window),
            });
        }
        Ok(())
    }
}

/// The signed tasks seen lately, so that each signature is used once: a task key
/// (address and id) is remembered for twice the signature window, after which its
/// signature has expired anyway.
#[derive(Debug, Default)]
pub struct Replays {
    /// `<address>/<id>` → the signature's timestamp (unix ms).
    seen: Mutex<HashMap<String, u64>>,
}

impl Replays {
    pub fn new() -> Replays {
        Replays::default()
    }

    /// Takes the signature made at `ts` for task `id` on `address`: [`SignatureError::Replayed`]
    /// when that address and id were already taken with a signature.
    pub fn take(
        &self,
        address: &str,
        id: &str,
        ts: u64,
        now: u64,
        window: Duration,
    ) -> Result<(), SignatureError> {
        let key = format!("{address}/{id}");
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let horizon = now.saturating_sub(2 * window.as_millis() as u64);
        seen.retain(|_, ts| *ts >= horizon);
        if seen.contains_key(&key) {
            return Err(SignatureError::Replayed { id: id.to_owned() });
        }
        seen.insert(key, ts);
        Ok(())
    }
}

/// The text an HMAC covers: domain, address, id, timestamp, and the body without its
/// signature, as canonical JSON (object keys sorted, no spaces).
fn signed_text(address: &str, id: &str, ts: u64, body: &Value) -> String {
    let mut text = format!("{DOMAIN}\n{address}\n{id}\n{ts}\n");
    let mut unsigned = body.clone();
    if let Value::Object(map) = &mut unsigned {
        map.remove(FIELD);
    }
    canonical(&unsigned, &mut text);
    text
}

fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 120 {
        format!("{} min", s / 60)
    } else {
        format!("{} s", s)
    }
}

/// Checks the operator's `signature` on `task`, addressed to `address`: a signed task
/// carries its own id (the signature covers it), the HMAC verifies with `key` within
/// `window` of now, and the signature was not taken before. `Err` is the refusal, as a
/// sentence for the task's error reply. The installer, the deployer and the container
/// CI agents' actions all judge signatures here.
pub fn check_task(
    key: &OperatorKey,
    replays: &Replays,
    address: &str,
    task: &b00t_proto::Task,
    signature: &Signature,
    window: Duration,
) -> Result<(), String> {
    if task.source != b00t_proto::TaskSource::Json {
        return Err("a signed task must carry its own `id`: the signature covers it".into());
    }
    let now = now_ms();
    let id = task.id.as_str();
    key.verify(address, id, &task.body, signature, now, window)
        .and_then(|()| replays.take(address, id, signature.ts, now, window))
        .map_err(|e| e.to_string())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WINDOW: Duration = Duration::from_secs(300);

    fn split(signed: &Value) -> (Value, Signature) {
        let sig = serde_json::from_value(signed[FIELD].clone()).unwrap();
        (signed.clone(), sig)
    }

    #[test]
    fn a_signature_verifies_for_its_own_task_only() {
        let key = OperatorKey::from_bytes([7; 32]);
        let body = json!({"datum": "jq", "dry_run": false, "deps": true});
        let signed = key.sign("b00t.installer.apt", "t-1", 1_000_000, &body);
        let (body, sig) = split(&signed);
        let ok =
            |addr: &str, id: &str, body: &Value, now| key.verify(addr, id, body, &sig, now, WINDOW);
        assert_eq!(ok("b00t.installer.apt", "t-1", &body, 1_000_000), Ok(()));
        assert_eq!(
            ok("b00t.installer.apt", "t-2", &body, 1_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            ok("b00t.installer.cli", "t-1", &body, 1_000_000),
            Err(SignatureError::Mismatch)
        );
        let mut other = body.clone();
        other["datum"] = json!("evil");
        assert_eq!(
            ok("b00t.installer.apt", "t-1", &other, 1_000_000),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            ok("b00t.installer.apt", "t-1", &body, 1_000_000 + 301_000),
            Err(SignatureError::Expired { .. })
        ));
        let stranger = OperatorKey::from_bytes([8; 32]);
        assert_eq!(
            stranger.verify("b00t.installer.apt", "t-1", &body, &sig, 1_000_000, WINDOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_signature_is_taken_once() {
        let replays = Replays::new();
        let take = |address: &str, id: &str, now| replays.take(address, id, 1_000, now, WINDOW);
        assert_eq!(take("b00t.ci-web.restart", "t-1", 1_000), Ok(()));
        assert_eq!(
            take("b00t.ci-web.restart", "t-1", 2_000),
            Err(SignatureError::Replayed { id: "t-1".into() })
        );
        assert_eq!(take("b00t.ci-web.stop", "t-1", 2_000), Ok(()));
        assert_eq!(take("b00t.ci-web.restart", "t-2", 2_000), Ok(()));
        // Long after the window the key is forgotten (the signature has expired by then).
        assert_eq!(take("b00t.ci-web.restart", "t-1", 1_000 + 601_000), Ok(()));
    }

    #[test]
    fn key_order_does_not_matter() {
        let key = OperatorKey::from_bytes([1; 32]);
        let a: Value =
            serde_json::from_str(r#"{"datum":"jq","deps":true,"x":{"b":1,"a":2}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"x":{"a":2,"b":1},"deps":true,"datum":"jq"}"#).unwrap();
        let signed = key.sign("b00t.installer.apt", "t", 5, &a);
        let (_, sig) = split(&signed);
        assert_eq!(
            key.verify("b00t.installer.apt", "t", &b, &sig, 5, WINDOW),
            Ok(())
        );
    }

    #[test]
    fn the_key_file_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/operator.key");
        let a = OperatorKey::load_or_create(&path).unwrap();
        let b = OperatorKey::load_or_create(&path).unwrap();
        assert_eq!(a.bytes, b.bytes);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let folder = std::fs::metadata(dir.path().join("state")).unwrap();
            assert_eq!(folder.permissions().mode() & 0o777, 0o700);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = OperatorKey::load(&path).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
        }
        std::fs::write(&path, "zz").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let err = OperatorKey::load(&path).unwrap_err().to_string();
        assert!(err.contains("operator.key"), "{err}");
    }
}
