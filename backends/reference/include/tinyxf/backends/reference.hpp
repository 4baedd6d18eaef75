#pragma once
// Registers the reference backend (Device::reference()), the oracle of the conformance suite;
// the class is in reference/backend.hpp. Header-only, it compiles into the including translation
// unit; with the compiled tinyxf::cpu library (TINYXF_PRECOMPILED_BACKENDS) it comes from there.
#include <memory>

#include "tinyxf/core/runtime.hpp"

#ifdef TINYXF_PRECOMPILED_BACKENDS

namespace tinyxf::backends {

// Defined in the tinyxf::cpu library (backends/cpu/src/dispatch.cpp).
std::shared_ptr<Backend> make_reference_backend();

}  // namespace tinyxf::backends

#else

#include "tinyxf/backends/reference/backend.hpp"

namespace tinyxf::backends {

inline std::shared_ptr<Backend> make_reference_backend() { return std::make_shared<ReferenceBackend>(); }

}  // namespace tinyxf::backends

#endif

namespace tinyxf::backends {

// Registered in every program that includes this header.
inline const bool reference_backend_registered = register_backend(make_reference_backend());

}  // namespace tinyxf::backends
