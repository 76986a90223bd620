#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod counters;
pub mod envelope;
mod key;
mod layer;
mod ring;
pub mod rotate;

pub use key::{EncryptionKey, KEY_LEN, KeyId, MAX_LABEL_LEN, generate_key};
pub use layer::{Encrypted, EncryptionLayer, PlaintextPolicy};
pub use ring::{ENV_KEY, ENV_KEYS, KeyInfo, KeyRing};
pub use rotate::{ReencryptOptions, ReencryptReport, reencrypt};
pub use stratacache_core;
