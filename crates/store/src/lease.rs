//! A lease: one holder at a time of some work on a store that has no lock of its own (S3),
//! made of one small object written only by conditional writes ([`Store::put_if`]). A holder
//! that dies without releasing it blocks the work only until the lease expires; a holder that
//! works longer renews it, and learns at its next renewal when another took it over.

use serde::{Deserialize, Serialize};

use crate::{Error, Store};

/// What the lease object holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseBody {
    /// Who holds it: unique per holder, so two holders never write the same bytes.
    pub owner: String,
    /// Unix milliseconds after which anyone may take it over.
    pub expires_at_ms: i64,
}

/// A lease held: renew it before it expires, release it when done.
pub struct Lease<'s> {
    store: &'s dyn Store,
    key: String,
    owner: String,
    tag: String,
}

/// What trying to take a lease found.
pub enum Taken<'s> {
    /// Taken: the caller holds it.
    Held(Lease<'s>),
    /// Another holder has it, as its object says.
    Busy(LeaseBody),
}

fn encode(key: &str, body: &LeaseBody) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(body).map_err(|source| Error::Json {
        key: key.to_owned(),
        source,
    })
}

/// Takes the lease at `key` for `owner` until `now_ms + ttl_ms`: when nothing is there, or what
/// is there expired (or is not a lease flowatlas wrote). Two callers never both get it.
pub fn take<'s>(
    store: &'s dyn Store,
    key: &str,
    owner: &str,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<Taken<'s>, Error> {
    let body = LeaseBody {
        owner: owner.to_owned(),
        expires_at_ms: now_ms.saturating_add(ttl_ms),
    };
    let expected = match store.get_tagged(key)? {
        None => None,
        Some((bytes, tag)) => match serde_json::from_slice::<LeaseBody>(&bytes) {
            Ok(held) if held.expires_at_ms > now_ms && held.owner != owner => {
                return Ok(Taken::Busy(held));
            }
            // Expired, ours already, or unreadable: taken over, if no one else does first.
            _ => Some(tag),
        },
    };
    match store.put_if(key, &encode(key, &body)?, expected.as_deref())? {
        Some(tag) => Ok(Taken::Held(Lease {
            store,
            key: key.to_owned(),
            owner: owner.to_owned(),
            tag,
        })),
        // Someone wrote between the read and the write: theirs, unless it expires.
        None => match store.get_tagged(key)? {
            Some((bytes, _)) => Ok(Taken::Busy(serde_json::from_slice(&bytes).unwrap_or(
                LeaseBody {
                    owner: String::new(),
                    expires_at_ms: now_ms,
                },
            ))),
            None => Ok(Taken::Busy(LeaseBody {
                owner: String::new(),
                expires_at_ms: now_ms,
            })),
        },
    }
}

impl Lease<'_> {
    /// Extends the lease to `now_ms + ttl_ms`; false when it was lost (it expired and another
    /// took it over): stop the work then.
    pub fn renew(&mut self, now_ms: i64, ttl_ms: i64) -> Result<bool, Error> {
        let body = LeaseBody {
            owner: self.owner.clone(),
            expires_at_ms: now_ms.saturating_add(ttl_ms),
        };
        match self
            .store
            .put_if(&self.key, &encode(&self.key, &body)?, Some(&self.tag))?
        {
            Some(tag) => {
                self.tag = tag;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Gives the lease up (marks it expired), unless another took it over meanwhile.
    pub fn release(self) -> Result<(), Error> {
        let body = LeaseBody {
            owner: self.owner.clone(),
            expires_at_ms: i64::MIN,
        };
        self.store
            .put_if(&self.key, &encode(&self.key, &body)?, Some(&self.tag))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalStore;

    #[test]
    fn one_holder_at_a_time_until_it_expires_or_is_released() {
        let root = std::env::temp_dir().join(format!("flowatlas-lease-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let store = LocalStore::new(&root);
        let key = "_compacted/_lease.json";
        let Taken::Held(mut first) = take(&store, key, "a", 1_000, 100).unwrap() else {
            panic!("nothing held it")
        };
        match take(&store, key, "b", 1_050, 100).unwrap() {
            Taken::Busy(held) => assert_eq!(held.owner, "a"),
            Taken::Held(_) => panic!("two holders"),
        }
        assert!(first.renew(1_090, 100).unwrap());
        assert!(matches!(
            take(&store, key, "b", 1_150, 100).unwrap(),
            Taken::Busy(_)
        ));
        // Expired: taken over; the first holder learns it at its next renewal.
        let Taken::Held(second) = take(&store, key, "b", 1_191, 100).unwrap() else {
            panic!("an expired lease was not taken over")
        };
        assert!(!first.renew(1_200, 100).unwrap());
        first.release().unwrap();
        assert!(matches!(
            take(&store, key, "c", 1_200, 100).unwrap(),
            Taken::Busy(_)
        ));
        second.release().unwrap();
        assert!(matches!(
            take(&store, key, "c", 1_200, 100).unwrap(),
            Taken::Held(_)
        ));
        std::fs::write(root.join(key), b"not a lease").unwrap();
        assert!(matches!(
            take(&store, key, "d", 1_200, 100).unwrap(),
            Taken::Held(_)
        ));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn racing_takers_get_it_once() {
        let root =
            std::env::temp_dir().join(format!("flowatlas-lease-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let store = LocalStore::new(&root);
        let held = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for taker in 0..8 {
                let (store, held) = (&store, &held);
                scope.spawn(move || {
                    if let Taken::Held(_) =
                        take(store, "l.json", &taker.to_string(), 0, 1_000).unwrap()
                    {
                        held.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(held.into_inner(), 1);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
