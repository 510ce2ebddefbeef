//! Keeps webhook requests off internal networks.

use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone, Copy)]
pub struct AddressPolicy {
    pub allow_private_networks: bool,
}

/// Whether an address is on the public internet: not loopback, private, link-local (which
/// holds cloud metadata at 169.254.169.254), shared, unique-local, multicast or unspecified.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let octets = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 100.64.0.0/10, carrier-grade NAT.
                || (octets[0] == 100 && (64..128).contains(&octets[1]))
                || octets[0] == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link-local.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

impl AddressPolicy {
    pub fn allows(&self, address: IpAddr) -> bool {
        self.allow_private_networks || is_public(address)
    }

    /// A refusal reason when the URL's host is an IP literal the policy forbids.
    pub fn refuse_literal_host(&self, url: &reqwest::Url) -> Option<String> {
        let address = match url.host()? {
            url::Host::Ipv4(v4) => IpAddr::V4(v4),
            url::Host::Ipv6(v6) => IpAddr::V6(v6),
            url::Host::Domain(_) => return None,
        };
        (!self.allows(address)).then(|| format!("refused: {address} is not a public address"))
    }
}

/// Resolves with the system resolver and keeps only addresses the policy allows; the
/// client then connects only to those.
pub struct GuardedResolver {
    pub policy: AddressPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| policy.allows(a.ip()))
                .collect();
            if allowed.is_empty() {
                let error: Box<dyn std::error::Error + Send + Sync> =
                    format!("refused: {host} resolves only to non-public addresses").into();
                return Err(error);
            }
            let addresses: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for address in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(address.parse().unwrap()), "{address}");
        }
        for address in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(address.parse().unwrap()), "{address}");
        }
        let strict = AddressPolicy {
            allow_private_networks: false,
        };
        assert!(
            strict
                .refuse_literal_host(&"http://127.0.0.1:9/x".parse().unwrap())
                .is_some()
        );
        assert!(
            strict
                .refuse_literal_host(&"http://example.com/x".parse().unwrap())
                .is_none()
        );
        let open = AddressPolicy {
            allow_private_networks: true,
        };
        assert!(
            open.refuse_literal_host(&"http://127.0.0.1:9/x".parse().unwrap())
                .is_none()
        );
    }
}
