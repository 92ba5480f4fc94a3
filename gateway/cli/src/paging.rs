//! Query strings and cursor paging of the admin API's lists, shared by
//! every list command.

use crate::admin_client::AdminClient;
use anyhow::Result;
use clap::Args;
use scangate_api::PageView;

/// Items a cursor-paged list command shows when no `--limit` is given: the
/// API's own page size.
const PAGE_DEFAULT: usize = 100;

/// A list's time window, as the list commands take it.
#[derive(Debug, Args)]
pub struct TimeWindow {
    /// At or after this time (RFC 3339).
    #[arg(long)]
    pub from: Option<String>,
    /// Before this time (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
}

/// One page of a cursor-paged list: how many, and where it continues.
#[derive(Debug, Args)]
pub struct Page {
    /// At most this many (1 to 1000).
    #[arg(long, default_value_t = PAGE_DEFAULT)]
    pub limit: usize,
    /// Continue after this cursor (`next` of a previous page).
    #[arg(long)]
    pub after: Option<String>,
}

/// Query parameters of a list request (reqwest percent-encodes them).
#[derive(Default, Clone)]
pub(crate) struct Query(pub(crate) Vec<(&'static str, String)>);

impl Query {
    /// Adds `key=value` when there is a value.
    pub(crate) fn add(&mut self, key: &'static str, value: Option<&str>) {
        if let Some(v) = value {
            self.0.push((key, v.to_owned()));
        }
    }

    /// Adds the window's `from` and `until`, where given.
    pub(crate) fn window(&mut self, window: &TimeWindow) {
        self.add("from", window.from.as_deref());
        self.add("until", window.until.as_deref());
    }

    /// Adds the page's `limit`, and its `after` where given.
    pub(crate) fn page(&mut self, page: &Page) {
        self.add("limit", Some(&page.limit.to_string()));
        self.add("after", page.after.as_deref());
    }
}

/// Follows cursor pages of `path` until `limit` items or the end.
pub(crate) async fn pages<T: serde::de::DeserializeOwned>(
    client: &AdminClient,
    path: &str,
    query: Query,
    limit: usize,
) -> Result<Vec<T>> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    while items.len() < limit {
        let mut q = query.clone();
        let page_size = (limit - items.len()).min(scangate_gateway::operator::http::LIST_MAX);
        q.add("limit", Some(&page_size.to_string()));
        q.add("after", after.as_deref());
        let page: PageView<T> = client.get_query(path, &q.0).await?;
        items.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(items)
}
