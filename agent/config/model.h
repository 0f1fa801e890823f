// The configuration snapshot: immutable once loaded; a reload builds a new one and diffs.
// Vocabulary from the Secure Edge Connector guides: a Connector is one provider site (one PSK
// and one local IKE identity), holding primary/secondary Tunnels to the provider's service
// locations; Applications, SteeringProfiles and Policies say which traffic takes which path.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/secret.h"

namespace sedge::config {

struct Location {
  std::string file;
  unsigned line = 0;
  std::string str() const { return file + ":" + std::to_string(line); }
  friend bool operator==(const Location&, const Location&) = default;
};

struct Prefix {
  int family = 0;        // AF_INET or AF_INET6
  uint8_t bytes[16] = {};
  uint8_t length = 0;
  std::string str() const;
  bool contains(const Prefix& other) const;  // other is inside this prefix
  bool overlaps(const Prefix& other) const { return contains(other) || other.contains(*this); }
  friend bool operator==(const Prefix&, const Prefix&) = default;
};

struct PortRange {
  uint16_t first = 0;
  uint16_t last = 0;
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

enum class InterfaceRole { wan, lan };
enum class Provider { juniper_secure_edge, zscaler, prisma_access, checkpoint_harmony, custom };
enum class ConnectorType { ipsec, gre };
enum class TunnelMode { active_standby, active_active };
enum class TunnelRole { primary, secondary };
enum class Routing { route_based, policy_based };
enum class Fragmentation { yes, accept, force, no };  // IKE fragmentation, strongSwan's names
enum class Strategy { ordered, weighted };
enum class PolicyAction { steer, breakout, deny };
enum class IdType { fqdn, rfc822, ipv4, ipv6, key_id, der_asn1_dn };
enum class AuthMethod { psk, pubkey };

struct Identity {
  IdType type = IdType::fqdn;
  std::string value;  // as written, without a "keyid:" or "dn:" prefix
  std::string str() const;
  friend bool operator==(const Identity&, const Identity&) = default;
};

// Where a pre-shared key came from, for messages; the key itself is in `psk`.
struct SecretSource {
  std::string description;  // "file /etc/sedge/site1.psk", "credential site1-psk", "inline"
  friend bool operator==(const SecretSource&, const SecretSource&) = default;
};

// Certificate authentication (AuthMethod=pubkey): our certificate (and its chain), our private
// key (read at load from a 0600 file; the PEM text is a Secret) and the CAs we trust.
struct CertificateAuth {
  std::string certificate;       // Certificate=: PEM, ours first, then intermediates
  std::string private_key_file;  // PrivateKeyFile=
  Secret private_key;
  std::string ca_path;  // CAPath=: a PEM file or a directory of them
};

struct Interface {
  std::string name;
  Location where;
  std::string device;
  InterfaceRole role = InterfaceRole::lan;
  std::vector<Prefix> networks;  // LAN prefixes behind a LAN interface
  std::string gateway;           // WAN next hop (address), empty = from the routing table
};

struct Connector {
  std::string name;
  Location where;
  Provider provider = Provider::custom;
  ConnectorType type = ConnectorType::ipsec;
  TunnelMode mode = TunnelMode::active_standby;
  std::optional<Identity> local_id;
  SecretSource psk_source;
  Secret psk;
  std::optional<AuthMethod> auth_method;  // AuthMethod=; default psk
  CertificateAuth cert;
  std::vector<Prefix> protected_networks;
};

struct Tunnel {
  std::string name;
  Location where;
  std::string connector;
  TunnelRole role = TunnelRole::primary;
  std::string wan;     // Interface name
  std::string remote;  // address or DNS name of the service location
  std::optional<Identity> remote_id;
  std::optional<Identity> local_id;  // overrides the connector's
  SecretSource psk_source;           // empty description = the connector's key
  Secret psk;
  std::optional<AuthMethod> auth_method;  // overrides the connector's
  CertificateAuth cert;                   // each empty field: the connector's
  std::vector<std::string> ike_proposals;  // strongSwan syntax, e.g. aes128gcm16-prfsha256-modp2048
  std::vector<std::string> esp_proposals;  // e.g. aes128gcm16-modp2048 (PFS group 14)
  uint32_t ike_lifetime_sec = 86400;
  uint32_t child_lifetime_sec = 3600;
  uint32_t dpd_interval_sec = 10;
  uint32_t dpd_timeout_sec = 30;
  uint32_t retransmit_timeout_sec = 4;  // the first retransmission of our requests (charon.retransmit_timeout)
  uint32_t retransmit_tries = 5;        // then each 1.8 times the last, this many (charon.retransmit_tries)
  bool nat_traversal = true;  // IKE and ESP on UDP 4500
  Fragmentation fragmentation = Fragmentation::yes;  // IKE fragmentation (RFC 7383)
  uint32_t fragment_size = 1280;  // the largest IP datagram of an IKE fragment (charon.fragment_size)
  std::vector<std::string> probes;  // addresses to probe through the tunnel
  Routing routing = Routing::route_based;
  std::vector<Prefix> local_ts;   // policy-based traffic selectors
  std::vector<Prefix> remote_ts;
  std::vector<Prefix> remote_networks;  // routes through the tunnel
  uint32_t max_child_sas = 8;  // CHILD_SAs per IKE SA, the first included; the peer's beyond are refused
  bool referenced = false;  // by a steering profile, or has remote networks (else not created)
};

// A further CHILD_SA of a policy-based tunnel ([Child NAME], like a swanctl connection's further
// children): sedge-connect creates it with CREATE_CHILD_SA once IKE_AUTH has created the first.
struct Child {
  std::string name;
  Location where;
  std::string tunnel;
  Prefix local_ts, remote_ts;
};

struct SteeringPath {
  std::string target;  // a tunnel or connector name, or "breakout:<wan interface>"
  uint32_t weight = 1;
  bool is_breakout() const { return target.rfind("breakout:", 0) == 0; }
  friend bool operator==(const SteeringPath&, const SteeringPath&) = default;
};

struct Application {
  std::string name;
  Location where;
  std::vector<Prefix> destinations;  // empty = any
  uint8_t protocol = 0;              // IP protocol number, 0 = any
  std::vector<PortRange> ports;      // destination ports, empty = any
};

struct SteeringProfile {
  std::string name;
  Location where;
  Strategy strategy = Strategy::ordered;
  std::vector<SteeringPath> paths;
  // Ordered: how long a better path must stay up before traffic moves back to it (doubled for
  // a flapping path, agent/steering/selector.h); 0 = at once.
  uint32_t preempt_delay_sec = 30;
};

struct Policy {
  std::string name;
  Location where;
  uint32_t order = 0;                     // lower first; ties by name
  std::vector<std::string> sources;       // LAN interface names
  std::vector<Prefix> source_prefixes;    // or prefixes
  std::vector<std::string> applications;  // empty = any
  PolicyAction action = PolicyAction::steer;
  std::string profile;
};

struct Onboarding {
  Location where;
  std::string conductor;  // address or name; empty = onboarding off
  uint16_t port = 930;
  uint16_t management_port = 933;
  std::string token_file;
  std::string tcti = "device:/dev/tpmrm0";
  std::string router_id;
  std::string interface;  // whose MAC the device ID token carries
  std::string state_directory = "/var/lib/sedge/onboarding";
  std::string ek_profile = "rsa2048";  // rsa2048, ecc-p256 or ecc-p384 (TCG EK profiles)
  std::string identity = "ek";         // ek or idevid: what the TPM proves who the router is with
  std::string idevid_certificate;      // PEM file of the IDevID certificate (Identity=idevid)
  uint32_t idevid_key_handle = 0x81020000;  // persistent handle of the IDevID signing key
  // Every field, so that a new one is compared too (where it was written included: see
  // agent/daemon/onboarding_reload.h for the comparison a reload makes).
  friend bool operator==(const Onboarding&, const Onboarding&) = default;
};

struct Config {
  std::string log_level = "info";
  std::string key_log_directory;  // debugging only: IKE and ESP keys for Wireshark (empty: off)
  uint32_t steering_flow_cache_size = 65536;  // flows whose steering decision is cached (0: no cache)
  std::map<std::string, Interface> interfaces;
  std::map<std::string, Connector> connectors;
  std::map<std::string, Tunnel> tunnels;
  std::map<std::string, Child> children;
  std::map<std::string, Application> applications;
  std::map<std::string, SteeringProfile> profiles;
  std::map<std::string, Policy> policies;
  std::optional<Onboarding> onboarding;
  std::vector<std::string> files;  // every file read, in order

  // The policies in evaluation order (Order=, then name).
  std::vector<const Policy*> ordered_policies() const;
  // The tunnels of a connector, primary first.
  std::vector<const Tunnel*> tunnels_of(const std::string& connector) const;
  // The further CHILD_SAs of a tunnel, by name.
  std::vector<const Child*> children_of(const std::string& tunnel) const;
  // The key a tunnel authenticates with: its own, else its connector's.
  const Secret& psk_for(const Tunnel& tunnel) const;
  Identity local_id_for(const Tunnel& tunnel) const;
  // How a tunnel authenticates (its AuthMethod=, else its connector's, else psk), and with
  // AuthMethod=pubkey each of Certificate=, PrivateKeyFile= and CAPath= (the tunnel's, else the
  // connector's).
  AuthMethod auth_method_for(const Tunnel& tunnel) const;
  const std::string& certificate_for(const Tunnel& tunnel) const;
  const Secret& private_key_for(const Tunnel& tunnel) const;
  const std::string& ca_path_for(const Tunnel& tunnel) const;
};

const char* to_string(InterfaceRole);
const char* to_string(Provider);
const char* to_string(ConnectorType);
const char* to_string(TunnelMode);
const char* to_string(TunnelRole);
const char* to_string(Routing);
const char* to_string(Fragmentation);
const char* to_string(Strategy);
const char* to_string(PolicyAction);
const char* to_string(IdType);
const char* to_string(AuthMethod);

}  // namespace sedge::config
