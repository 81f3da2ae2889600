//! The dashboard at `/ui/`: pages of `arca-ui` filled from Arca's custom
//! resources and, for a backup's catalog or a restore's report, from the
//! location's repository. Read-only: the only POST is signing in.

pub mod access;
pub mod data;
pub mod detail;
pub mod drift;
pub mod drills;
pub mod report_views;
pub mod views;

use std::sync::Arc;

use arca_ui::layout::PageContext;
use arca_ui::{Markup, drills as drill_pages, overview, pages, trends};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use kube::Client;

use crate::clock::Clock;
use access::{Access, Authenticated, UiAuth, Viewer};

/// The cookie the sign-in form sets (the user's own token, in their browser).
const COOKIE: &str = "arca-token";
/// Where the dashboard is mounted.
pub const BASE: &str = "/ui";

/// The dashboard's shared state.
pub struct Ui {
    pub client: Client,
    pub auth: UiAuth,
    pub access: Access,
    pub clock: Arc<dyn Clock>,
    /// In tenant mode a location's Secrets are read as its tenant.
    pub kube_config: Option<kube::Config>,
    pub tenant_mode: bool,
}

impl Ui {
    pub fn new(client: Client, auth: UiAuth, config: &crate::config::ServerConfig) -> Arc<Ui> {
        Arc::new(Ui {
            access: Access::new(client.clone()),
            client,
            auth,
            clock: config.clock.clone(),
            kube_config: config.kube_config.clone(),
            tenant_mode: config.tenant_mode,
        })
    }

    fn page_context(&self, viewer: &Viewer) -> PageContext {
        PageContext { now: self.clock.now(), user: viewer.name(), base: Some(BASE.to_string()) }
    }

    /// The client that reads `namespace`'s location Secrets and repository.
    pub fn client_for(&self, namespace: &str) -> crate::error::Result<Client> {
        match (&self.kube_config, self.tenant_mode) {
            (Some(base), true) => crate::tenant::client_for(base, namespace, true),
            _ => Ok(self.client.clone()),
        }
    }
}

/// The routes under `/ui`.
pub fn router(ui: Arc<Ui>) -> Router {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(overview_page))
        .route("/ui/backups", get(backups_page))
        .route("/ui/backups/{namespace}/{name}", get(backup_page))
        .route("/ui/restores", get(restores_page))
        .route("/ui/restores/{namespace}/{name}", get(restore_page))
        .route("/ui/trends", get(trends_page))
        .route("/ui/drift", get(drift_page))
        .route("/ui/drills", get(drills_page))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", get(logout))
        .with_state(ui)
}

/// Headers every page carries: nothing cached, nothing loaded from
/// elsewhere, never framed.
fn html(status: StatusCode, page: Markup) -> Response {
    let mut r = (status, page.into_string()).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; \
             form-action 'self'; frame-ancestors 'none'",
        ),
    );
    r
}

fn token_of(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(t) = v.strip_prefix("Bearer ") {
            return Some(t.trim().to_string());
        }
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|t| !t.is_empty())
}

/// The viewer of a request, or the response that turns it away.
async fn viewer(ui: &Ui, headers: &HeaderMap) -> Result<Viewer, Response> {
    match ui.auth {
        UiAuth::Open => Ok(Viewer::Server),
        UiAuth::Off => Err((StatusCode::NOT_FOUND, "the dashboard is off (--ui off)\n").into_response()),
        UiAuth::Token => {
            let Some(token) = token_of(headers) else { return Err(Redirect::to("/ui/login").into_response()) };
            match ui.access.authenticate(&token).await {
                Authenticated::Yes(v) => Ok(v),
                Authenticated::No(why) => {
                    let ctx = PageContext { now: ui.clock.now(), user: None, base: Some(BASE.into()) };
                    Err(html(StatusCode::UNAUTHORIZED, pages::login(&ctx, Some(&why))))
                }
            }
        }
    }
}

/// The request's viewer, their page context and what they may see, or the
/// response that turns the request away.
async fn viewer_and_seen(ui: &Ui, headers: &HeaderMap) -> Result<(Viewer, PageContext, data::Seen), Response> {
    let viewer = viewer(ui, headers).await?;
    let ctx = ui.page_context(&viewer);
    match data::seen(&ui.client, &ui.access, &viewer, ctx.now).await {
        Ok(seen) => Ok((viewer, ctx, seen)),
        Err(e) => Err(unavailable(&ctx, &e.to_string())),
    }
}

/// Runs `render` for the request's viewer with what they may see.
async fn with_seen(ui: &Ui, headers: &HeaderMap, render: impl FnOnce(&PageContext, data::Seen) -> Markup) -> Response {
    match viewer_and_seen(ui, headers).await {
        Ok((_, ctx, seen)) => html(StatusCode::OK, render(&ctx, seen)),
        Err(r) => r,
    }
}

fn unavailable(ctx: &PageContext, why: &str) -> Response {
    tracing::warn!("dashboard: {why}");
    html(
        StatusCode::SERVICE_UNAVAILABLE,
        pages::problem(ctx, "Unavailable", &format!("Reading from the Kubernetes API failed: {why}")),
    )
}

async fn overview_page(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    with_seen(&ui, &headers, |ctx, seen| {
        let rows = overview::protection(&overview::Inputs {
            now: ctx.now,
            namespaces: &seen.namespaces,
            backups: &seen.backups,
            schedules: &seen.schedules,
            claims: &seen.claims,
        });
        overview::page(ctx, &rows, &seen.locations, &seen.backups)
    })
    .await
}

async fn backups_page(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    with_seen(&ui, &headers, |ctx, seen| pages::backups(ctx, &seen.backups)).await
}

async fn restores_page(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    with_seen(&ui, &headers, |ctx, seen| pages::restores(ctx, &seen.restores)).await
}

async fn trends_page(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    with_seen(&ui, &headers, |ctx, seen| trends::page(ctx, &trends::compute(&seen.backups), &seen.locations)).await
}

/// A detail page: the viewer may `get` `resource` in `ns`, and `load`
/// renders it (`None`: no such object).
async fn detail_page<F, Fut>(
    ui: &Ui,
    headers: &HeaderMap,
    resource: &'static str,
    kind: &str,
    ns: &str,
    name: &str,
    load: F,
) -> Response
where
    F: FnOnce(PageContext) -> Fut,
    Fut: std::future::Future<Output = crate::error::Result<Option<Markup>>>,
{
    let viewer = match viewer(ui, headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let ctx = ui.page_context(&viewer);
    if !ui.access.may_get(&viewer, arca_api::GROUP, resource, ns).await {
        return not_found(&ctx, kind, ns, name);
    }
    match load(ctx.clone()).await {
        Ok(Some(page)) => html(StatusCode::OK, page),
        Ok(None) => not_found(&ctx, kind, ns, name),
        Err(e) => unavailable(&ctx, &e.to_string()),
    }
}

async fn backup_page(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    let (u, n, m) = (&*ui, ns.as_str(), name.as_str());
    detail_page(u, &headers, "backups", "Backup", n, m, |ctx| async move {
        let found = detail::backup(u, n, m).await?;
        Ok(found.map(|(row, catalog)| pages::backup(&ctx, &row, catalog.as_ref().map_err(String::as_str))))
    })
    .await
}

async fn restore_page(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    let (u, n, m) = (&*ui, ns.as_str(), name.as_str());
    detail_page(u, &headers, "restores", "Restore", n, m, |ctx| async move {
        let found = detail::restore(u, n, m).await?;
        Ok(found.map(|(row, items)| pages::restore(&ctx, &row, items.as_deref().map_err(String::as_str))))
    })
    .await
}

async fn drift_page(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    match viewer_and_seen(&ui, &headers).await {
        Ok((_, ctx, seen)) => html(StatusCode::OK, pages::drift(&ctx, &drift::views(&ui, &seen).await)),
        Err(r) => r,
    }
}

async fn drills_page(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    match viewer_and_seen(&ui, &headers).await {
        Ok((viewer, ctx, seen)) => {
            let (rows, unreadable) = drills::rows(&ui, &viewer, &seen).await;
            html(StatusCode::OK, drill_pages::page(&ctx, &rows, &unreadable))
        }
        Err(r) => r,
    }
}

/// The same answer for "absent" and "not yours": names in other
/// namespaces are not confirmed to exist.
fn not_found(ctx: &PageContext, kind: &str, ns: &str, name: &str) -> Response {
    html(StatusCode::NOT_FOUND, pages::problem(ctx, "Not found", &format!("No {kind} {ns}/{name} that you may read.")))
}

async fn login_page(State(ui): State<Arc<Ui>>) -> Response {
    let ctx = PageContext { now: ui.clock.now(), user: None, base: Some(BASE.into()) };
    html(StatusCode::OK, pages::login(&ctx, None))
}

/// `token=…` from the sign-in form.
fn form_token(body: &str) -> Option<String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| percent_decode(&v.replace('+', " ")))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = || std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex()) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn login(State(ui): State<Arc<Ui>>, body: String) -> Response {
    let ctx = PageContext { now: ui.clock.now(), user: None, base: Some(BASE.into()) };
    let Some(token) = form_token(&body) else {
        return html(StatusCode::BAD_REQUEST, pages::login(&ctx, Some("Paste a token first.")));
    };
    if token.bytes().any(|b| !(0x21..0x7f).contains(&b) || b == b';' || b == b',') {
        return html(StatusCode::BAD_REQUEST, pages::login(&ctx, Some("That is not a bearer token.")));
    }
    match ui.access.authenticate(&token).await {
        Authenticated::Yes(_) => {
            let mut r = Redirect::to("/ui/").into_response();
            let cookie = format!("{COOKIE}={token}; Path=/ui; HttpOnly; SameSite=Strict");
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Authenticated::No(why) => html(StatusCode::UNAUTHORIZED, pages::login(&ctx, Some(&why))),
    }
}

async fn logout() -> Response {
    let mut r = Redirect::to("/ui/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("arca-token=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_the_header_or_the_cookie() {
        let mut h = HeaderMap::new();
        assert_eq!(token_of(&h), None);
        h.insert(header::COOKIE, HeaderValue::from_static("a=b; arca-token=abc.def"));
        assert_eq!(token_of(&h).as_deref(), Some("abc.def"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer xyz"));
        assert_eq!(token_of(&h).as_deref(), Some("xyz"));
    }

    #[test]
    fn the_form_token_is_decoded() {
        assert_eq!(form_token("token=ab%2Bc%3D%3D&x=1").as_deref(), Some("ab+c=="));
        assert_eq!(form_token("token=").as_deref(), None);
        assert_eq!(form_token("other=1"), None);
    }
}
