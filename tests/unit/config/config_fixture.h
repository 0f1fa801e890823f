// A scratch configuration tree (etc, run, lib directories and a credentials directory).
#pragma once

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "agent/config/config.h"

namespace sedge::config::testing {

class ConfigTree {
 public:
  ConfigTree() {
    char tmpl[] = "/tmp/sedge-config-test.XXXXXX";
    root_ = mkdtemp(tmpl);
    for (const char* d : {"etc", "run", "lib", "cred"}) std::filesystem::create_directories(root_ / d / "sedge.conf.d");
  }
  ~ConfigTree() { std::filesystem::remove_all(root_); }

  // Writes `text` to <dir>/<relative path> with `mode`; returns the path.
  std::filesystem::path write(const std::string& dir, const std::string& rel, const std::string& text,
                              mode_t mode = 0644) {
    const auto p = root_ / dir / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
    chmod(p.c_str(), mode);
    return p;
  }

  Sources sources() const {
    Sources s;
    s.directories = {root_ / "etc", root_ / "run", root_ / "lib"};
    s.credentials_directory = root_ / "cred";
    return s;
  }
  std::filesystem::path root() const { return root_; }

 private:
  std::filesystem::path root_;
};

// A minimal valid site: two WAN links, one LAN, a custom connector with two tunnels.
inline std::string base_site(const std::string& psk_file) {
  return "[Interface wan0]\nRole=wan\n\n[Interface wan1]\nRole=wan\n\n[Interface lan0]\nRole=lan\nNetwork=10.99.99.0/24\n\n"
         "[Connector pop]\nProvider=custom\nLocalId=site1@example.com\nPresharedKeyFile=" + psk_file + "\n\n"
         "[Tunnel pop-a]\nConnector=pop\nRole=primary\nWan=wan0\nRemote=192.0.2.10\nRemoteId=pop-a.example.net\n\n"
         "[Tunnel pop-b]\nConnector=pop\nRole=secondary\nWan=wan1\nRemote=192.0.2.20\nRemoteId=pop-b.example.net\n\n"
         "[SteeringProfile Cloud]\nPath=pop\n\n"
         "[Application web]\nDestination=0.0.0.0/0\nProtocol=tcp\nPort=443\n\n"
         "[Policy web-via-cloud]\nOrder=10\nSource=lan0\nApplication=web\nProfile=Cloud\n";
}

}  // namespace sedge::config::testing
