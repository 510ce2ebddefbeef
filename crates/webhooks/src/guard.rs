//! Keeps webhook requests off internal networks: which addresses are allowed is
//! `egress`'s decision; here is where delivery applies it, to a URL's literal host before
//! sending and to every address DNS returns.

use std::net::SocketAddr;

use egress::AddressPolicy;

/// The refusal for a URL whose host is decided without DNS: an IP literal the policy forbids,
/// or a `localhost` name.
pub(crate) fn refuse_literal_host(policy: AddressPolicy, url: &reqwest::Url) -> Option<String> {
    let host = url.host()?;
    policy
        .check_host(&host)
        .err()
        .map(|refused| format!("refused: {refused}"))
}

/// Resolves with the system resolver and keeps only addresses the policy allows; the
/// client then connects only to those.
pub(crate) struct GuardedResolver {
    pub policy: AddressPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let mut refusals = Vec::new();
            let mut allowed: Vec<SocketAddr> = Vec::new();
            for address in tokio::net::lookup_host((host.as_str(), 0)).await? {
                match policy.check_address(address.ip()) {
                    Ok(()) => allowed.push(address),
                    Err(refused) => refusals.push(refused.to_string()),
                }
            }
            if allowed.is_empty() {
                let error: Box<dyn std::error::Error + Send + Sync> = format!(
                    "refused: {host} resolves only to non-public addresses ({})",
                    refusals.join(", ")
                )
                .into();
                return Err(error);
            }
            let addresses: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addresses)
        })
    }
}
