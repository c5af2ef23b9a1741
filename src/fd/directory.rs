//! Who is who: local users by token, partner systems by credential, and where a recipient
//! is served (here, or by which partner system).

use crate::config::ConfigError;

use super::config::{FdPartner, FdServerConfig, FdUser, Interconnect};

/// Where a recipient receives MCData service.
#[derive(Debug, Clone, Copy)]
pub enum Whereabouts<'a> {
    Local(&'a FdUser),
    Partner(&'a FdPartner),
}

/// Lookups over the configuration.
#[derive(Debug, Clone)]
pub struct Directory {
    users: Vec<FdUser>,
    partners: Vec<FdPartner>,
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Directory {
    pub fn new(cfg: &FdServerConfig) -> Result<Self, ConfigError> {
        cfg.validate()?;
        Ok(Directory {
            users: cfg.users.clone(),
            partners: cfg.partners.clone(),
        })
    }

    pub fn user_by_token(&self, token: &str) -> Option<&FdUser> {
        self.users.iter().find(|u| ct_eq(&u.token, token))
    }

    /// The HTTP partner whose agreement credential this is (SIP partners have none).
    pub fn partner_by_credential(&self, cred: &str) -> Option<&FdPartner> {
        self.partners
            .iter()
            .filter(|p| p.interconnect == Interconnect::Http && !p.credential.is_empty())
            .find(|p| ct_eq(&p.credential, cred))
    }

    /// The SIP partners, for matching an incoming SIP request to one.
    pub fn sip_partners(&self) -> impl Iterator<Item = &FdPartner> {
        self.partners
            .iter()
            .filter(|p| p.interconnect == Interconnect::Sip)
    }

    pub fn partner(&self, system: &str) -> Option<&FdPartner> {
        self.partners.iter().find(|p| p.system_id == system)
    }

    pub fn local_user(&self, id: &str) -> Option<&FdUser> {
        self.users.iter().find(|u| u.id == id)
    }

    /// Where `user` is served, if known.
    pub fn locate(&self, user: &str) -> Option<Whereabouts<'_>> {
        if let Some(u) = self.local_user(user) {
            return Some(Whereabouts::Local(u));
        }
        self.partners
            .iter()
            .find(|p| p.serves(user))
            .map(Whereabouts::Partner)
    }
}
