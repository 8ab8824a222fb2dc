//! A bearer token as the API and Graph check it (`verify_bearer`), against a directory with
//! one signing key.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use threatgate_identity::Snapshot;
use threatgate_identity::keys::{KeyEncryptionKey, KeyRing, SigningKey};
use threatgate_identity::verify::verify_bearer;
use threatgate_identity::view::DirectoryView;
use time::OffsetDateTime;

fn snapshot() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        let kek = KeyEncryptionKey::from_bytes(&[7; 32]).expect("a key-encryption key");
        let now = OffsetDateTime::now_utc();
        let record = SigningKey::generate(&kek, now, now).expect("a signing key");
        let keys = KeyRing::from_records(&kek, &[record]).expect("a key ring");
        Snapshot { directory: DirectoryView::build(Default::default()), keys }
    })
}

fuzz_target!(|token: &str| {
    let _ = verify_bearer(snapshot(), token, OffsetDateTime::now_utc());
});
