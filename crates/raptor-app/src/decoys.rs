//! Decoy passkey ids for addresses without an account. Sign-in options for a known address
//! list its passkeys' ids; for any other address they list ids derived from the address with
//! an instance key, so the same address always gets the same ids and nobody without the key
//! can tell them from real ones.

use hmac::{Hmac, Mac};
use raptor_domain::Email;
use raptor_store::{instance_keys, StoreError};
use sha2::Sha256;

use crate::secrets::random_key;
use crate::App;

/// The instance key's name in `instance_keys`.
const KEY_NAME: &str = "passkey_decoys";

/// Lengths real authenticators give their credential ids (platform managers, Windows Hello,
/// security keys); each decoy takes one of them.
const ID_LENGTHS: [usize; 4] = [16, 20, 32, 64];

/// The decoy credential ids for `email`: one or (for a quarter of addresses) two. The key is
/// read once per process, so a sign-in for an unknown address costs no more queries than one
/// for a known address.
pub async fn credential_ids(app: &App, email: &Email) -> Result<Vec<Vec<u8>>, StoreError> {
    let candidate = random_key();
    let key = app
        .decoy_key
        .get_or_try_init(|| instance_keys::get_or_create(&app.db, KEY_NAME, &candidate, app.now()))
        .await?;
    Ok(derive(key, email.as_str()))
}

fn mac(key: &[u8], label: &[u8], email: &str) -> [u8; 32] {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key");
    mac.update(label);
    mac.update(email.as_bytes());
    mac.finalize().into_bytes().into()
}

fn derive(key: &[u8], email: &str) -> Vec<Vec<u8>> {
    let seed = mac(key, b"shape", email);
    let count = if seed[0] % 4 == 0 { 2 } else { 1 };
    (0..count)
        .map(|i| {
            let length = ID_LENGTHS[usize::from(seed[1 + i] % 4)];
            let mut id = mac(key, &[b'a', i as u8], email).to_vec();
            id.extend(mac(key, &[b'b', i as u8], email));
            id.truncate(length);
            id
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_always_gets_the_same_decoys_and_another_key_gives_others() {
        let ids = derive(b"key one", "nobody@example.com");
        assert_eq!(ids, derive(b"key one", "nobody@example.com"));
        assert_ne!(ids, derive(b"key two", "nobody@example.com"));
        assert_ne!(ids, derive(b"key one", "somebody@example.com"));
    }

    #[test]
    fn decoys_are_one_or_two_ids_of_lengths_authenticators_use() {
        let mut counts = [0usize; 3];
        for n in 0..400 {
            let ids = derive(b"key", &format!("user{n}@example.com"));
            counts[ids.len()] += 1;
            assert!(ids.iter().all(|id| ID_LENGTHS.contains(&id.len())));
        }
        assert_eq!(counts[0], 0);
        assert!(counts[1] > counts[2] && counts[2] > 0, "{counts:?}");
    }
}
