//! The Matrix client-server API's pure pieces: the `/sync` answer, room events and the
//! message the bridge sends as types, the sync filter and the error body (`types`);
//! whether a message addresses the bot (`mention`); task, transaction and path ids
//! (`id`). The answer's parts are [`crate::format::matrix_parts`]. The HTTP client and
//! the sync loop live in `b00t-chat`.

pub mod id;
pub mod mention;
pub mod types;

pub use id::{path_segment, task_id, txn_id};
pub use mention::{addresses_bot, MatrixBot};
pub use types::{
    gap_filter, sync_filter, ErrorBody, InvitedRoom, JoinedRoom, MemberContent, Mentions,
    MessageContent, MessagesPage, RelatesTo, RoomEvent, SyncResponse,
};

/// One message of an answer: the plain `body` and its HTML `formatted_body`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatrixPart {
    pub body: String,
    pub formatted_body: String,
}
