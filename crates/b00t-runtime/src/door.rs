//! The runtime's rules at the front door: the embedded broker's [`Gate`] (who may
//! connect with which client id and will, and subscribe to what) over [`b00t_acl::Acl`];
//! what each may publish is checked by the tap ([`crate::intake`]) with the same rules.

use std::sync::Arc;

use b00t_acl::{Acl, Who};
use b00t_broker::{Gate, Login, ANONYMOUS};

/// The identity behind a connection's name (its username, or `anonymous`).
pub fn who(identity: &str) -> Who {
    if identity == ANONYMOUS {
        Who::Anonymous
    } else {
        Who::from_user(identity)
    }
}

/// The embedded broker's gate.
pub struct Door {
    acl: Arc<Acl>,
}

impl Door {
    pub fn new(acl: Arc<Acl>) -> Door {
        Door { acl }
    }
}

impl Gate for Door {
    fn connect(&self, login: &Login<'_>) -> Result<(), String> {
        let who = login.user.map_or(Who::Anonymous, Who::from_user);
        self.acl.admit(&who, login.client_id, login.guarded)?;
        if let Some((topic, payload)) = login.will {
            self.acl
                .check_publish(&who, topic, payload)
                .map_err(|denied| format!("its will: {}", denied.why))?;
        }
        Ok(())
    }

    fn subscribe(&self, identity: &str, filter: &str) -> Result<(), String> {
        self.acl.may_subscribe(&who(identity), filter)
    }
}
