//===- Peers.h - OpenBLAS and oneDNN as matmul peers ------------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
// The libraries `kiln bench` measures Kiln's matmuls against. They live in
// their own library, KILNBenchPeers, which only the bench tool links: no
// Kiln library depends on a peer.
//
//===----------------------------------------------------------------------===//

#ifndef KILN_BENCH_PEERS_H_
#define KILN_BENCH_PEERS_H_

#include "bench/Suite.h"

#include <memory>
#include <vector>

namespace kiln::bench {

/// OpenBLAS (cblas_sgemm, pthreads build) and oneDNN (dnnl_sgemm, OpenMP).
std::vector<std::unique_ptr<MatmulPeer>> createMatmulPeers();

} // namespace kiln::bench

#endif // KILN_BENCH_PEERS_H_
