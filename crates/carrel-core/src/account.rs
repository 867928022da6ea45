//! Accounts: e-mail addresses, passwords as people choose them, roles and
//! the scopes of API tokens, and who is asking ([`Caller`]).

use std::fmt;
use std::str::FromStr;

use crate::CoreError;
use crate::ids::AccountId;

/// An e-mail address as an account's login: trimmed, lower-cased, one `@`
/// with text on both sides, a dot in the domain, no spaces or controls,
/// at most 254 bytes (RFC 5321's path limit).
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(into = "String")]
pub struct Email(String);

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Email {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        let s = s.trim().to_lowercase();
        if s.is_empty() || s.len() > 254 {
            return Err(CoreError::InvalidAccount(
                "an e-mail address has 3 to 254 characters",
            ));
        }
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"'(),;:\\[]".contains(c))
        {
            return Err(CoreError::InvalidAccount(
                "an e-mail address has no spaces, quotes or brackets",
            ));
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(CoreError::InvalidAccount("an e-mail address has an @"));
        };
        if local.is_empty()
            || local.len() > 64
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(CoreError::InvalidAccount(
                "an e-mail address looks like name@example.org",
            ));
        }
        Ok(Self(s))
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Personal data: logs show only the domain.
        let domain = self.0.split_once('@').map_or("", |(_, d)| d);
        write!(f, "Email(…@{domain})")
    }
}

/// A password someone chose, checked against the rules before it is hashed:
/// 10 to 1024 bytes (argon2 takes any length; the cap bounds the work), not
/// all one character, and not the e-mail address.
pub struct NewPassword(String);

impl NewPassword {
    pub const MIN: usize = 10;
    pub const MAX: usize = 1024;

    pub fn new(p: &str, email: Option<&Email>) -> Result<Self, CoreError> {
        if p.len() < Self::MIN {
            return Err(CoreError::WeakPassword(
                "a password has at least 10 characters",
            ));
        }
        if p.len() > Self::MAX {
            return Err(CoreError::WeakPassword("a password has at most 1024 bytes"));
        }
        let mut chars = p.chars();
        let first = chars.next();
        if chars.all(|c| Some(c) == first) {
            return Err(CoreError::WeakPassword(
                "a password is not one character repeated",
            ));
        }
        if email.is_some_and(|e| p.trim().eq_ignore_ascii_case(e.as_str())) {
            return Err(CoreError::WeakPassword(
                "a password is not the e-mail address",
            ));
        }
        Ok(Self(p.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(…)")
    }
}

/// Hashes a password with argon2id and a random salt into a PHC string.
/// CPU-bound (tens of milliseconds): async callers run it on a blocking thread.
pub fn hash_password(p: &str) -> Result<String, CoreError> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(p.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| CoreError::WeakPassword("this password cannot be hashed"))
}

/// Whether `p` is the password of a stored argon2 PHC string; false for
/// anything longer than [`NewPassword::MAX`] (bounding the work) or a
/// stored value that is not a PHC string.
pub fn verify_password(p: &str, stored: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    p.len() <= NewPassword::MAX
        && PasswordHash::new(stored).is_ok_and(|h| {
            argon2::Argon2::default()
                .verify_password(p.as_bytes(), &h)
                .is_ok()
        })
}

/// What an account may do beyond its own files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Own files, links, tokens.
    User,
    /// Also: takedowns and disabling links of others.
    Moderator,
    /// Also: users, plans, the library's catalog, everything.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        match s {
            "user" => Ok(Role::User),
            "moderator" => Ok(Role::Moderator),
            "admin" => Ok(Role::Admin),
            _ => Err(CoreError::InvalidAccount(
                "a role is user, moderator or admin",
            )),
        }
    }
}

/// One power an API token may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read the account's files, links and data.
    Read,
    /// Upload files.
    Upload,
    /// Change and delete the account's files and links; make tokens.
    Manage,
    /// Act as the account's role beyond its own files (moderator or admin work).
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Upload, Scope::Manage, Scope::Admin];

    fn bit(self) -> u8 {
        match self {
            Scope::Read => 1,
            Scope::Upload => 2,
            Scope::Manage => 4,
            Scope::Admin => 8,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Upload => "upload",
            Scope::Manage => "manage",
            Scope::Admin => "admin",
        }
    }
}

impl FromStr for Scope {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or(CoreError::InvalidAccount(
                "a scope is read, upload, manage or admin",
            ))
    }
}

/// A set of [`Scope`]s, stored as their names separated by spaces.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Scopes {
    pub const NONE: Scopes = Scopes(0);
    pub const ALL: Scopes = Scopes(15);

    pub fn contains(self, s: Scope) -> bool {
        self.0 & s.bit() != 0
    }
    pub fn with(self, s: Scope) -> Scopes {
        Scopes(self.0 | s.bit())
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
    /// The scopes a role may hand to a token: `admin` only for moderators and admins.
    pub fn allowed_for(role: Role) -> Scopes {
        match role {
            Role::User => Scopes::ALL.without(Scope::Admin),
            Role::Moderator | Role::Admin => Scopes::ALL,
        }
    }
    pub fn without(self, s: Scope) -> Scopes {
        Scopes(self.0 & !s.bit())
    }
}

impl FromStr for Scopes {
    type Err = CoreError;
    /// Names separated by spaces or commas; an empty list is refused.
    fn from_str(s: &str) -> Result<Self, CoreError> {
        let mut out = Scopes::NONE;
        for part in s.split([' ', ',']).filter(|p| !p.is_empty()) {
            out = out.with(part.parse()?);
        }
        if out.is_empty() {
            return Err(CoreError::InvalidAccount("name at least one scope"));
        }
        Ok(out)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Scope::as_str).collect();
        f.write_str(&names.join(" "))
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scopes({self})")
    }
}

impl serde::Serialize for Scopes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// How a request proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A browser session (cookie); state-changing requests also need its CSRF token.
    Session,
    /// An API token (`Authorization: Bearer crl_…`), limited to its scopes.
    Token,
}

/// Who is asking: nobody, or an account through a session or a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    Account {
        id: AccountId,
        role: Role,
        /// What this credential may do (a session may do all its role allows).
        scopes: Scopes,
        credential: Credential,
        /// The account's plan, as stored (see [`crate::plan::Plans::limits_of`]).
        plan: String,
    },
}

impl Caller {
    pub fn account(&self) -> Option<&AccountId> {
        match self {
            Caller::Anonymous => None,
            Caller::Account { id, .. } => Some(id),
        }
    }
    /// Whether this caller is an account whose credential carries `scope`.
    pub fn can(&self, scope: Scope) -> bool {
        matches!(self, Caller::Account { scopes, .. } if scopes.contains(scope))
    }
    /// Whether this caller acts with at least `role` (which needs the `admin` scope).
    pub fn acts_as(&self, role: Role) -> bool {
        matches!(self, Caller::Account { role: r, scopes, .. } if *r >= role && scopes.contains(Scope::Admin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_folded_and_checked() {
        let e: Email = "  Ada@Example.ORG ".parse().unwrap();
        assert_eq!(e.as_str(), "ada@example.org");
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "a b@example.org",
            "ada@@example.org",
            "ada@example..org",
            "ada@.example.org",
            "<ada@example.org>",
            "ada@example.org\n",
        ] {
            if bad.trim() == "ada@example.org" {
                continue;
            }
            assert!(bad.parse::<Email>().is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert!(long.parse::<Email>().is_err());
        assert_eq!(format!("{e:?}"), "Email(…@example.org)");
    }

    #[test]
    fn passwords_follow_the_rules() {
        let e: Email = "ada@example.org".parse().unwrap();
        assert!(NewPassword::new("correct horse", Some(&e)).is_ok());
        assert!(NewPassword::new("short", None).is_err());
        assert!(NewPassword::new("aaaaaaaaaaaa", None).is_err());
        assert!(NewPassword::new("ADA@example.org", Some(&e)).is_err());
        assert!(NewPassword::new(&"x".repeat(1025), None).is_err());
        assert_eq!(
            format!("{:?}", NewPassword::new("correct horse", None).unwrap()),
            "NewPassword(…)"
        );
    }

    #[test]
    fn password_hashes_verify_only_their_password() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsf", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        assert!(!verify_password(&"x".repeat(2000), &h));
    }

    #[test]
    fn scopes_parse_print_and_limit() {
        let s: Scopes = "read, upload".parse().unwrap();
        assert!(s.contains(Scope::Read) && s.contains(Scope::Upload) && !s.contains(Scope::Manage));
        assert_eq!(s.to_string(), "read upload");
        assert_eq!(s.to_string().parse::<Scopes>().unwrap(), s);
        assert!("".parse::<Scopes>().is_err());
        assert!("read root".parse::<Scopes>().is_err());
        assert!(!Scopes::allowed_for(Role::User).contains(Scope::Admin));
        assert!(Scopes::allowed_for(Role::Admin).contains(Scope::Admin));
        assert_eq!(serde_json::to_string(&s).unwrap(), r#"["read","upload"]"#);
    }

    #[test]
    fn callers_act_only_with_role_and_scope() {
        let id = AccountId::generate();
        let admin_token = Caller::Account {
            id: id.clone(),
            role: Role::Admin,
            scopes: "read".parse().unwrap(),
            credential: Credential::Token,
            plan: "free".into(),
        };
        assert!(
            !admin_token.acts_as(Role::Admin),
            "a read token of an admin is not admin"
        );
        let admin = Caller::Account {
            id: id.clone(),
            role: Role::Admin,
            scopes: Scopes::ALL,
            credential: Credential::Session,
            plan: "free".into(),
        };
        assert!(admin.acts_as(Role::Moderator) && admin.acts_as(Role::Admin));
        let moderator = Caller::Account {
            id,
            role: Role::Moderator,
            scopes: Scopes::ALL,
            credential: Credential::Session,
            plan: "free".into(),
        };
        assert!(moderator.acts_as(Role::Moderator) && !moderator.acts_as(Role::Admin));
        assert!(!Caller::Anonymous.can(Scope::Read));
        assert!("owner".parse::<Role>().is_err());
        assert!(Role::Admin > Role::Moderator && Role::Moderator > Role::User);
    }
}
