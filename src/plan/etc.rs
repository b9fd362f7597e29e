//! The files a container expects in /etc, which scrun generates for an image without them.

use oci_spec::runtime::Spec;

/// /etc/hostname, /etc/hosts and /etc/resolv.conf, which a FROM-scratch image lacks and
/// name resolution in the container needs.
pub(super) fn etc_files(spec: &Spec, new_netns: bool) -> Vec<(&'static str, String)> {
    let hostname = spec.hostname().clone().unwrap_or_default();
    let mut hosts = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    if !hostname.is_empty() {
        hosts.push_str(&format!("127.0.1.1\t{hostname}\n"));
    }
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    vec![
        ("hostname", format!("{hostname}\n")),
        ("hosts", hosts),
        ("resolv.conf", resolv_conf(&host_resolv, new_netns)),
    ]
}

/// The host's resolv.conf; a loopback nameserver (a local cache) is unreachable from a new
/// network namespace, so it is dropped there.
fn resolv_conf(host: &str, new_netns: bool) -> String {
    host.lines()
        .filter(|l| {
            let mut words = l.split_whitespace();
            !(new_netns
                && words.next() == Some("nameserver")
                && words
                    .next()
                    .and_then(|a| a.parse::<std::net::IpAddr>().ok())
                    .is_some_and(|a| a.is_loopback()))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_nameservers_dropped_only_in_new_netns() {
        let host = "search example\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nnameserver ::1\n";
        assert_eq!(resolv_conf(host, true), "search example\nnameserver 10.0.0.1\n");
        assert_eq!(resolv_conf(host, false), host);
    }
}
