//! Who is looking, and what they may see.
//!
//! On a loopback address the dashboard is open: whoever reaches it already
//! runs on the server's host (or holds `pods/portforward`), and sees what
//! the server sees. On any other address every request needs a bearer token
//! (header, or the cookie the sign-in form sets), checked with a
//! TokenReview; each Backup, Restore, Schedule, location and namespace is
//! then shown only if a SubjectAccessReview says that user may `get` it.
//! Answers are cached for a short while, keyed by a hash of the token
//! (the token itself is never kept or logged).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use kube::api::PostParams;
use kube::{Api, Client};

/// How long a token's identity and its access answers are reused.
const CACHE_FOR: Duration = Duration::from_secs(30);
/// Bound on cached answers (a flood of tokens must not grow memory).
const CACHE_MAX: usize = 10_000;

/// How the dashboard admits requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UiAuth {
    /// No token: everyone who reaches the address sees what the server sees.
    Open,
    /// A bearer token per request, views filtered by the user's rights.
    Token,
    /// No dashboard.
    Off,
}

impl UiAuth {
    /// `auto`: open on a loopback address, tokens anywhere else. `open` on a
    /// non-loopback address is refused: it would show every namespace's
    /// backups to anyone on the network.
    pub fn parse(text: &str, address: Option<SocketAddr>) -> Result<UiAuth, String> {
        let loopback = address.is_some_and(|a| a.ip().is_loopback());
        match text {
            "auto" if loopback => Ok(UiAuth::Open),
            "auto" | "token" => Ok(UiAuth::Token),
            "off" => Ok(UiAuth::Off),
            "open" if loopback || address.is_none() => Ok(UiAuth::Open),
            "open" => Err(format!(
                "--ui open on {} would show every namespace's backups to anyone who reaches that address: \
                 use --ui token (a Kubernetes bearer token per user), or bind to 127.0.0.1",
                address.map(|a| a.to_string()).unwrap_or_default()
            )),
            other => Err(format!("--ui {other:?}: give auto, token, open or off")),
        }
    }
}

/// The identity a request was made with.
#[derive(Clone, Debug)]
pub enum Viewer {
    /// Open dashboard: the server's own view.
    Server,
    /// A user the API server authenticated.
    User(UserInfo),
}

impl Viewer {
    pub fn name(&self) -> Option<String> {
        match self {
            Viewer::Server => None,
            Viewer::User(u) => u.username.clone(),
        }
    }
}

/// What a token review said.
pub enum Authenticated {
    Yes(Viewer),
    /// Not a valid token; the reason is safe to show.
    No(String),
}

type TokenKey = [u8; 32];
type AccessKey = (String, &'static str, &'static str, String, String);

/// Cached token reviews and access reviews.
pub struct Access {
    client: Client,
    identities: Mutex<HashMap<TokenKey, (Instant, UserInfo)>>,
    answers: Mutex<HashMap<AccessKey, (Instant, bool)>>,
}

impl Access {
    pub fn new(client: Client) -> Access {
        Access { client, identities: Mutex::default(), answers: Mutex::default() }
    }

    /// Who holds `token`, from the cache or a TokenReview.
    pub async fn authenticate(&self, token: &str) -> Authenticated {
        let key = *blake3::hash(token.as_bytes()).as_bytes();
        if let Some(user) = cached(&self.identities, &key) {
            return Authenticated::Yes(Viewer::User(user));
        }
        let review =
            TokenReview { spec: TokenReviewSpec { token: token.to_string(), audiences: None }, ..Default::default() };
        let api: Api<TokenReview> = Api::all(self.client.clone());
        let answer = match api.create(&PostParams::default(), &review).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("TokenReview failed: {e}");
                return Authenticated::No("the token could not be checked (TokenReview failed); try again".into());
            }
        };
        let status = answer.status.unwrap_or_default();
        match (status.authenticated, status.user) {
            (Some(true), Some(user)) => {
                remember(&self.identities, key, user.clone());
                Authenticated::Yes(Viewer::User(user))
            }
            _ => Authenticated::No("the API server did not accept this token".into()),
        }
    }

    /// Whether `viewer` may `verb` `resource` (in `group`) in `namespace`
    /// (empty: in every namespace, or cluster-scoped), optionally one `name`.
    pub async fn may(
        &self,
        viewer: &Viewer,
        verb: &str,
        group: &'static str,
        resource: &'static str,
        namespace: &str,
        name: &str,
    ) -> bool {
        let Viewer::User(user) = viewer else { return true };
        let who = user.username.clone().unwrap_or_default();
        let key: AccessKey = (format!("{who}|{verb}"), group, resource, namespace.to_string(), name.to_string());
        if let Some(answer) = cached(&self.answers, &key) {
            return answer;
        }
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username.clone(),
                groups: user.groups.clone(),
                uid: user.uid.clone(),
                extra: user.extra.clone(),
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.to_string()),
                    group: Some(group.to_string()),
                    resource: Some(resource.to_string()),
                    namespace: (!namespace.is_empty()).then(|| namespace.to_string()),
                    name: (!name.is_empty()).then(|| name.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let allowed = match api.create(&PostParams::default(), &review).await {
            Ok(a) => a.status.is_some_and(|s| s.allowed),
            Err(e) => {
                // Fail closed: an unanswered review shows nothing.
                tracing::warn!("SubjectAccessReview for {who} failed: {e}");
                return false;
            }
        };
        remember(&self.answers, key, allowed);
        allowed
    }

    /// Whether `viewer` may `get` `resource` in `namespace`: first asked
    /// for every namespace at once (one review for cluster admins).
    pub async fn may_get(&self, viewer: &Viewer, group: &'static str, resource: &'static str, namespace: &str) -> bool {
        self.may(viewer, "get", group, resource, "", "").await
            || self.may(viewer, "get", group, resource, namespace, "").await
    }
}

fn cached<K: std::hash::Hash + Eq, V: Clone>(map: &Mutex<HashMap<K, (Instant, V)>>, key: &K) -> Option<V> {
    let map = map.lock().unwrap_or_else(|p| p.into_inner());
    map.get(key).filter(|(at, _)| at.elapsed() < CACHE_FOR).map(|(_, v)| v.clone())
}

fn remember<K: std::hash::Hash + Eq, V>(map: &Mutex<HashMap<K, (Instant, V)>>, key: K, value: V) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= CACHE_MAX {
        map.retain(|_, (at, _)| at.elapsed() < CACHE_FOR);
        if map.len() >= CACHE_MAX {
            map.clear();
        }
    }
    map.insert(key, (Instant::now(), value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_open_only_on_loopback_and_open_is_refused_elsewhere() {
        let local: SocketAddr = "127.0.0.1:8085".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8085".parse().unwrap();
        assert_eq!(UiAuth::parse("auto", Some(local)), Ok(UiAuth::Open));
        assert_eq!(UiAuth::parse("auto", Some(any)), Ok(UiAuth::Token));
        assert_eq!(UiAuth::parse("token", Some(local)), Ok(UiAuth::Token));
        assert_eq!(UiAuth::parse("off", Some(any)), Ok(UiAuth::Off));
        assert!(UiAuth::parse("open", Some(any)).unwrap_err().contains("--ui token"));
        assert!(UiAuth::parse("maybe", Some(local)).is_err());
    }
}
