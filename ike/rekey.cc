#include "ike/rekey.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "ike/proposal.h"

namespace sedge::ike {
namespace {

Error malformed(const std::string& what) { return Error{"malformed CREATE_CHILD_SA: " + what, EBADMSG}; }

}  // namespace

Bytes spi_bytes(uint32_t spi) {
  Bytes b;
  put32(b, spi);
  return b;
}
Bytes spi_bytes64(uint64_t spi) {
  Bytes b;
  put64(b, spi);
  return b;
}
uint32_t spi_of(std::span<const uint8_t> b) { return get32(b, 0); }
uint64_t spi64_of(std::span<const uint8_t> b) { return get64(b, 0); }

std::vector<Payload> encode_create_child(const CreateChildSa& m) {
  std::vector<Payload> out;
  if (m.error) {
    out.push_back({kNotify, false, encode_notify(*m.error)});
    return out;
  }
  if (m.rekey_spi) out.push_back({kNotify, false, encode_notify({kProtocolEsp, spi_bytes(*m.rekey_spi), kNotifyRekeySa, {}})});
  out.push_back({kSa, false, encode_sa(m.proposals)});
  out.push_back({kNonce, false, m.nonce});
  if (m.ke_group) out.push_back({kKe, false, encode_ke(m.ke_group, m.ke_value)});
  if (!m.tsi.empty()) {
    out.push_back({kTsi, false, encode_ts(m.tsi)});
    out.push_back({kTsr, false, encode_ts(m.tsr)});
  }
  return out;
}

Result<CreateChildSa> decode_create_child(const std::vector<Payload>& payloads) {
  CreateChildSa m;
  bool sa = false, nonce = false, tsi = false, tsr = false;
  for (const auto& p : payloads) {
    switch (p.type) {
      case kNotify: {
        auto n = decode_notify(p.body);
        if (!n) return n.error();
        if (n->type <= kNotifyErrorMax) {
          if (!m.error) m.error = std::move(*n);
        } else if (n->type == kNotifyRekeySa) {
          if (n->protocol != kProtocolEsp || n->spi.size() != 4) return malformed("REKEY_SA without a 4-byte ESP SPI");
          m.rekey_spi = spi_of(n->spi);
        }
        break;
      }
      case kSa: {
        auto proposals = decode_sa(p.body);
        if (!proposals) return proposals.error();
        m.proposals = std::move(*proposals);
        sa = true;
        break;
      }
      case kNonce:
        m.nonce = p.body;
        nonce = true;
        break;
      case kKe: {
        auto ke = decode_ke(p.body);
        if (!ke) return malformed(ke.error().message);
        m.ke_group = ke->group;
        m.ke_value = std::move(ke->public_value);
        break;
      }
      case kTsi: {
        auto ts = decode_ts(p.body);
        if (!ts) return ts.error();
        m.tsi = std::move(*ts);
        tsi = true;
        break;
      }
      case kTsr: {
        auto ts = decode_ts(p.body);
        if (!ts) return ts.error();
        m.tsr = std::move(*ts);
        tsr = true;
        break;
      }
      default:
        break;
    }
  }
  if (m.error) return m;
  if (!sa || m.proposals.empty()) return malformed("no SA payload");
  if (!nonce || m.nonce.size() < 16 || m.nonce.size() > 256) return malformed("no nonce of 16 to 256 bytes");
  if (tsi != tsr) return malformed("one traffic selector payload without the other");
  if (!m.rekeys_ike() && (!tsi || m.tsi.empty() || m.tsr.empty())) return malformed("a CHILD_SA without traffic selectors");
  if (m.rekeys_ike() && (m.proposals.front().spi.size() != 8 || m.ke_group == 0)) {
    return malformed("an IKE SA rekey without an 8-byte SPI or a KE payload");
  }
  return m;
}

Bytes encode_delete(const DeleteSa& d) {
  const uint8_t spi_size = d.protocol == kProtocolIke ? 0 : 4;
  const auto count = static_cast<uint16_t>(spi_size ? d.spis.size() : 0);
  Bytes b{d.protocol, spi_size};
  put16(b, count);
  for (size_t i = 0; i < count; ++i) put32(b, d.spis[i]);
  return b;
}

Result<DeleteSa> decode_delete(std::span<const uint8_t> d) {
  if (d.size() < 4) return Error{"malformed Delete payload: truncated", EBADMSG};
  DeleteSa out;
  out.protocol = d[0];
  const uint8_t spi_size = d[1];
  const size_t count = get16(d, 2);
  if (out.protocol == kProtocolIke) {
    if (spi_size != 0 || count != 0 || d.size() != 4) return Error{"malformed Delete payload: an IKE SA has no SPIs here", EBADMSG};
    return out;
  }
  if (spi_size != 4 || d.size() != 4 + 4 * count) return Error{"malformed Delete payload: SPI size or count disagrees", EBADMSG};
  for (size_t i = 0; i < count; ++i) out.spis.push_back(spi_of(d.subspan(4 + 4 * i, 4)));
  return out;
}

Result<uint16_t> parse_pfs_group(std::string_view esp) {
  auto p = parse_proposal(esp, ProposalKind::esp);
  if (!p) return p.error();
  return p->dh_group;
}

IkeKeys derive_rekeyed_ike_keys(const Suite& suite, const PrfKey& old_sk_d, std::span<const uint8_t> g_ir,
                                std::span<const uint8_t> ni, std::span<const uint8_t> nr, uint64_t spi_i, uint64_t spi_r) {
  Bytes skeyseed = rekey_skeyseed(old_sk_d, g_ir, ni, nr);
  IkeKeys keys = split_ike_keys(suite, skeyseed, ni, nr, spi_i, spi_r);
  OPENSSL_cleanse(skeyseed.data(), skeyseed.size());
  return keys;
}

ChildKeys derive_rekeyed_child_keys(const Suite& suite, const Secret& sk_d, std::span<const uint8_t> g_ir,
                                    std::span<const uint8_t> ni, std::span<const uint8_t> nr) {
  return derive_child_keys(suite, sk_d, ni, nr, g_ir);
}

bool lowest_nonce_in(std::span<const uint8_t> a_ni, std::span<const uint8_t> a_nr, std::span<const uint8_t> b_ni,
                     std::span<const uint8_t> b_nr) {
  auto less = [](std::span<const uint8_t> x, std::span<const uint8_t> y) {
    return std::lexicographical_compare(x.begin(), x.end(), y.begin(), y.end());
  };
  auto lowest = [&](std::span<const uint8_t> x, std::span<const uint8_t> y) { return less(y, x) ? y : x; };
  return less(lowest(a_ni, a_nr), lowest(b_ni, b_nr));
}

}  // namespace sedge::ike
