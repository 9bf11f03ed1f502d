//===- Peers.cpp - OpenBLAS and oneDNN as matmul peers ----------*- C++ -*-===//
//
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#include "bench/Peers.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

namespace kiln::bench {

namespace {
class OpenBlasPeer : public MatmulPeer {
public:
  std::string getName() const override { return "openblas"; }
  void setNumThreads(int threads) override {
    openblas_set_num_threads(threads);
  }
  bool multiply(int64_t m, int64_t k, int64_t n, const float *a,
                const float *b, float *c) override {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a,
                k, b, n, 0.0f, c, n);
    return true;
  }
};

class OneDnnPeer : public MatmulPeer {
public:
  std::string getName() const override { return "onednn"; }
  void setNumThreads(int threads) override { omp_set_num_threads(threads); }
  bool multiply(int64_t m, int64_t k, int64_t n, const float *a,
                const float *b, float *c) override {
    return dnnl_sgemm('N', 'N', m, n, k, 1.0f, a, k, b, n, 0.0f, c, n) ==
           dnnl_success;
  }
};
} // namespace

std::vector<std::unique_ptr<MatmulPeer>> createMatmulPeers() {
  std::vector<std::unique_ptr<MatmulPeer>> peers;
  peers.push_back(std::make_unique<OpenBlasPeer>());
  peers.push_back(std::make_unique<OneDnnPeer>());
  return peers;
}

} // namespace kiln::bench
