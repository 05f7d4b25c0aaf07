//! WebSocket routes by path pattern, matched by `matchit` (axum's router). A segment parameter is
//! written `{id}` or `:id`; the rest of the path `{*path}`, `*path`, or a bare `*` (then named
//! `rest`), at the end only. A pattern `matchit` cannot take (two parameters in one segment, a
//! catch-all before the end, two routes that conflict) is an error when the server starts, never
//! a route that silently answers 404.

use std::io;

/// The WebSocket routes of an app, by pattern.
pub(crate) struct Routes {
    router: matchit::Router<usize>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes").finish_non_exhaustive()
    }
}

/// A matched route: its index and the path's parameters.
pub(crate) struct Matched<'k, 'v> {
    pub(crate) route: usize,
    pub(crate) params: matchit::Params<'k, 'v>,
}

impl Routes {
    /// The router for `patterns`, in order (route `i` is the `i`th pattern).
    ///
    /// # Errors
    /// `InvalidInput` naming the pattern and what is wrong with it.
    pub(crate) fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> io::Result<Self> {
        let mut router = matchit::Router::new();
        for (i, pattern) in patterns.into_iter().enumerate() {
            let bad = |why: String| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("route {pattern:?}: {why}"))
            };
            let translated = translate(pattern).map_err(bad)?;
            router.insert(translated, i).map_err(|e| bad(e.to_string()))?;
        }
        Ok(Self { router })
    }

    /// The route `path` (without its query) falls on, if any.
    pub(crate) fn at<'k, 'v>(&'k self, path: &'v str) -> Option<Matched<'k, 'v>> {
        let found = self.router.at(path).ok()?;
        Some(Matched { route: *found.value, params: found.params })
    }
}

/// `matchit`'s syntax for a pattern that may use the `:id` and `*` forms.
fn translate(pattern: &str) -> Result<String, String> {
    if !pattern.starts_with('/') {
        return Err("a route must start with /".into());
    }
    let segments: Vec<&str> = pattern.split('/').collect();
    let mut out = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let named = |name: &str| -> Result<String, String> {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("{segment:?} is not a parameter name (letters, digits, _)"));
            }
            Ok(name.to_owned())
        };
        let translated = if let Some(name) = segment.strip_prefix(':') {
            format!("{{{}}}", named(name)?)
        } else if let Some(name) = segment.strip_prefix('*') {
            if !last {
                return Err(format!("{segment:?}: a catch-all must be the last segment"));
            }
            let name = if name.is_empty() { "rest".to_owned() } else { named(name)? };
            format!("{{*{name}}}")
        } else {
            (*segment).to_owned()
        };
        out.push(translated);
    }
    Ok(out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(routes: &Routes, path: &str) -> Option<(usize, Vec<(String, String)>)> {
        let m = routes.at(path)?;
        let p = m.params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        Some((m.route, p))
    }

    #[test]
    fn both_syntaxes_match_and_give_their_parameters() {
        let routes =
            Routes::new(["/echo", "/room/:id", "/game/{game}/team/{team}", "/assets/*"]).unwrap();
        assert_eq!(params(&routes, "/echo"), Some((0, vec![])));
        assert_eq!(params(&routes, "/room/42"), Some((1, vec![("id".into(), "42".into())])));
        let two = params(&routes, "/game/g1/team/red").unwrap();
        assert_eq!(two.0, 2);
        assert_eq!(two.1, vec![("game".into(), "g1".into()), ("team".into(), "red".into())]);
        let rest = params(&routes, "/assets/css/site.css");
        assert_eq!(rest, Some((3, vec![("rest".into(), "css/site.css".into())])));
        assert_eq!(params(&routes, "/room"), None);
        assert_eq!(params(&routes, "/room/42/more"), None);
        assert_eq!(params(&routes, "/nothing"), None);
    }

    #[test]
    fn a_pattern_the_router_cannot_take_is_an_error_naming_it() {
        for bad in ["room/:id", "/a/*x/b", "/a/:", "/a/:i-d", "/a/{x}{y}"] {
            let e = Routes::new([bad]).err().unwrap_or_else(|| panic!("{bad} accepted"));
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains(bad), "{e}");
        }
        let conflict = Routes::new(["/room/:id", "/room/{name}"]).expect_err("a conflict");
        assert!(conflict.to_string().contains("/room/{name}"), "{conflict}");
    }
}
