//! The page shell: header, navigation, the embedded style sheet and script.
//! Both are inlined into every page, so a page works alone (a report file,
//! an air-gapped cluster) and needs no second request.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The style sheet, embedded in the binary.
pub const CSS: &str = include_str!("../assets/arca.css");
/// The one script: table filtering. Pages work without it.
pub const JS: &str = include_str!("../assets/arca.js");

/// The dashboard's sections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Backups,
    Restores,
    Trends,
    Drift,
    Drills,
    None,
}

const SECTIONS: [(Nav, &str, &str); 6] = [
    (Nav::Overview, "", "Overview"),
    (Nav::Backups, "backups", "Backups"),
    (Nav::Restores, "restores", "Restores"),
    (Nav::Trends, "trends", "Trends"),
    (Nav::Drift, "drift", "Drift"),
    (Nav::Drills, "drills", "Drills"),
];

/// What every page needs to know about where it is shown.
#[derive(Clone, Debug)]
pub struct PageContext {
    pub now: DateTime<Utc>,
    /// The user the page is filtered for (from their token), if any.
    pub user: Option<String>,
    /// Where the dashboard is mounted (`/ui`); `None` for a report file,
    /// which has no navigation and links nowhere.
    pub base: Option<String>,
}

impl PageContext {
    /// A link to `path` under the dashboard, or `None` in a report file.
    pub fn link(&self, path: &str) -> Option<String> {
        self.base.as_ref().map(|b| format!("{b}/{path}"))
    }
}

/// Escapes one URL path segment (namespaces and names are DNS labels, but
/// never trust that in a link).
pub fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A whole page.
pub fn page(ctx: &PageContext, nav: Nav, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Arca" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    span.brand { "ARCA" }
                    @if let Some(base) = &ctx.base {
                        nav {
                            @for (section, path, label) in SECTIONS {
                                a href={(base) "/" (path)} class=[(section == nav).then_some("active")] { (label) }
                            }
                        }
                    }
                    @if let Some(user) = &ctx.user {
                        span.user { "signed in as " (user) }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
                footer { "Generated " (crate::format::time(ctx.now)) }
                script { (PreEscaped(JS)) }
            }
        }
    }
}

/// A phase or state badge.
pub fn badge(class_prefix: &str, value: &str) -> Markup {
    let safe: String = value.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    html! { span class={(class_prefix) " " (class_prefix) "-" (safe)} { (value) } }
}

/// `<a>` when a link exists, plain text otherwise.
pub fn maybe_link(href: Option<String>, text: &str) -> Markup {
    html! {
        @if let Some(href) = href { a href=(href) { (text) } } @else { (text) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_escaped() {
        assert_eq!(segment("shop-1.a_b"), "shop-1.a_b");
        assert_eq!(segment("a/b c\"<"), "a%2Fb%20c%22%3C");
    }

    #[test]
    fn badges_keep_classes_safe() {
        let html = badge("phase", "Failed\" onclick=\"x").into_string();
        assert!(html.contains("class=\"phase phase-Failedonclickx\""));
        assert!(html.contains("&quot;"));
    }
}
