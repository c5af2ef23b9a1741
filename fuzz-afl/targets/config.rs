//! The TOML configuration files: arbitrary bytes as the text of a content server, MCData
//! server (`fd-server`) and whole-system config file, through what `config::load_toml`
//! does after reading the file (`toml::from_str` into the server's settings type) and
//! then `validate`, as the servers do at start-up. Nothing may panic, and a content server
//! config that validates must not make the primary's uploads panic: `now +
//! max-file-availability` (the longest availability an upload gets, primary/upload.rs)
//! must be a representable time. Durations as flags and headers give them
//! (`config::parse_duration`) are fed the same text.

use std::time::SystemTime;

use mcdata::config::parse_duration;
use mcdata::content_server::config::ContentServerConfig;
use mcdata::fd::config::FdServerConfig;
use mcdata::fd::directory::Directory;
use mcdata::system::SystemConfig;

fn content(cfg: &ContentServerConfig) {
    if cfg.validate().is_err() {
        return;
    }
    let _ = (cfg.public_base(), cfg.store_options(), cfg.spool_dir());
    assert!(
        SystemTime::now()
            .checked_add(cfg.max_file_availability)
            .is_some(),
        "max-file-availability {:?} validates but overflows the clock",
        cfg.max_file_availability
    );
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        // `load_toml` reads the file with `read_to_string`: the text is UTF-8 or an error.
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let _ = parse_duration(text);
        if let Ok(cfg) = toml::from_str::<ContentServerConfig>(text) {
            content(&cfg);
        }
        if let Ok(cfg) = toml::from_str::<FdServerConfig>(text) {
            if Directory::new(&cfg).is_ok() {
                let _ = cfg.public_base();
            }
        }
        if let Ok(sys) = toml::from_str::<SystemConfig>(text) {
            let c = sys.content();
            content(&c);
            let _ = Directory::new(&sys.fd(&c.public_base()));
        }
    });
}
