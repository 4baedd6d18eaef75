// A plugin built for another backend ABI: the loader must refuse it before calling into it.
#include "tinyxf/core/plugin.hpp"

extern "C" __attribute__((visibility("default"))) int tinyxf_backend_plugin_abi() {
  return tinyxf::kBackendPluginAbi + 998;
}
extern "C" __attribute__((visibility("default"))) tinyxf::Backend* tinyxf_backend_plugin_create() {
  return nullptr;  // never reached
}
