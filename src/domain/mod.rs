//! The product's rules as pure functions: no I/O, no SQL, no HTTP.

pub mod calls;
pub mod period;
pub mod status;
pub mod timestamp;

pub use calls::{Call, Party};
pub use period::{Month, Period};
pub use status::BillableStatus;
pub use timestamp::Timestamp;

/// E-mail addresses compare case-insensitively, surrounding spaces ignored.
pub fn normalize_email(address: &str) -> String {
    address.trim().to_lowercase()
}
