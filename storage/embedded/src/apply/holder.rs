//! Holder links in one group commit: put (replacing the pass's earlier
//! link; refused for an erased pass) and remove, each one op on the
//! `holder_links` keyspace.

use super::{Answer, Batch, Reply};
use crate::layout::backend;
use crate::record::Ks;
use scangate_core::PassId;
use scangate_storage::{HolderLink, StoreError};

impl Batch<'_> {
    /// [`scangate_storage::Store::put_holder_link`]: once fjall has caught
    /// up with the log, refuses an erased pass ([`StoreError::Erased`]);
    /// otherwise stages the link under its pass id, over any earlier one.
    pub(super) fn put_link(&mut self, link: HolderLink, reply: Reply<()>) {
        let r = self.w.catch_up().and_then(|()| self.link(link));
        self.answers.push(Answer::Unit(reply, r));
    }

    fn link(&mut self, link: HolderLink) -> Result<(), StoreError> {
        if self.erased(link.pass_id)? {
            return Err(StoreError::Erased(link.pass_id));
        }
        self.writes
            .insert(Ks::HolderLinks, link.pass_id.0, link.encode());
        self.holder_links.insert(link.pass_id, true);
        Ok(())
    }

    /// [`scangate_storage::Store::remove_holder_link`]: once fjall has
    /// caught up with the log, stages the removal.
    pub(super) fn remove_link(&mut self, pass: PassId, reply: Reply<u64>) {
        let r = self.w.catch_up().and_then(|()| self.unlink(pass));
        self.answers.push(Answer::Count(Some(reply), r));
    }

    /// Answers 1 if the pass had a link (in this batch or in fjall), else 0.
    fn unlink(&mut self, pass: PassId) -> Result<u64, StoreError> {
        let had = match self.holder_links.get(&pass) {
            Some(had) => *had,
            None => {
                self.reads += 1;
                self.w
                    .tables
                    .holder_links
                    .contains_key(pass.0)
                    .map_err(backend)?
            }
        };
        if had {
            self.writes.remove(Ks::HolderLinks, pass.0);
            self.holder_links.insert(pass, false);
        }
        Ok(u64::from(had))
    }
}
