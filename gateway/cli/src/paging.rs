//! Query strings and cursor paging of the admin API's lists, shared by
//! every list command.

use crate::admin_client::AdminClient;
use anyhow::Result;
use scangate_api::PageView;

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
