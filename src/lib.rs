//! kb-sso
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod clock;
pub mod code;
pub mod config;
pub mod secret;
pub mod session;
pub mod store;
pub mod validity;

pub use clock::{Clock, SettableClock, SystemClock};
pub use code::*;
pub use config::*;
pub use secret::*;
pub use session::*;
pub use validity::*;
