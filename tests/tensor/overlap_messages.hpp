#pragma once
// torch's memory-overlap messages (ATen/MemoryOverlap.cpp), which tinyxf's in-place ops repeat
// after "<op>: " (core/mem_overlap.hpp); shared by the overlap and in-place arithmetic tests.
namespace tinyxf::testing {
// an expanded destination
inline const char* const kInternal = "unsupported operation: more than one element of the written-to tensor refers to "
                                     "a single memory location. Please clone() the tensor before performing the "
                                     "operation.";
// a source that (partly) aliases the destination
inline const char* const kInput = "unsupported operation: some elements of the input tensor and the written-to tensor "
                                  "refer to a single memory location. Please clone() the tensor before performing "
                                  "the operation.";
}  // namespace tinyxf::testing
