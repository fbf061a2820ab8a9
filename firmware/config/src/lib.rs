//! dyad's `ctl.conf`: FreeBSD ctld's configuration language (ctl.conf(5)) read into typed
//! values, checked as a whole, and written back. An administrator's FreeBSD file loads
//! unchanged as long as it uses only what dyad implements; anything else is refused by
//! name, with the file, line and column.
//!
//! ```
//! let text = "lun disk0 { path slot:0 }\n\
//!             target iqn.2024-01.org.example:t0 {\n\
//!                 auth-group no-authentication\n\
//!                 lun 0 disk0\n\
//!             }\n";
//! let config = config::Config::parse("ctl.conf", text).unwrap();
//! assert_eq!(config::Config::parse("ctl.conf", &config.to_text()).unwrap(), config);
//! ```
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

pub mod error;
pub mod lexer;
pub mod lun_options;
pub mod model;
pub mod parser;
pub mod size;
pub mod validate;
pub mod write;

pub use error::{ConfigError, Place};
pub use lun_options::{LunOptions, ProvisioningType};
pub use model::*;

impl Config {
    /// Reads and checks the ctl.conf `text`; `file_name` is what errors call it.
    pub fn parse(file_name: &str, text: &str) -> Result<Config, ConfigError> {
        let tokens = lexer::tokenize(file_name, text)?;
        let config = parser::Parser::new(file_name, tokens).parse()?;
        validate::validate(&config, file_name)?;
        Ok(config)
    }

    /// Checks a configuration built or changed in memory (by the console, say).
    pub fn validate(&self, file_name: &str) -> Result<(), ConfigError> {
        validate::validate(self, file_name)
    }
}
