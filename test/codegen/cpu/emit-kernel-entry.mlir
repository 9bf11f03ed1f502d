// RUN: kiln-opt %s --pass-pipeline='builtin.module(kiln-cpu-emit-kernel-entry)' --split-input-file | FileCheck %s

// The kernel becomes the internal body; the entry of runtime/KernelAbi.h
// loads one pointer per buffer and calls it with the tile range.
// CHECK-LABEL: llvm.func internal @k.body
// CHECK-SAME: (%{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr, %{{.+}}: i64, %{{.+}}: i64)
// CHECK-NOT: kiln.kernel
// CHECK-LABEL: llvm.func @k
// CHECK-SAME: (%[[BUFFERS:.+]]: !llvm.ptr, %[[BEGIN:.+]]: i64, %[[END:.+]]: i64)
// CHECK-SAME: kiln.kernel, kiln.num_buffers = 2 : i64, kiln.tile_count = 5 : i64
// CHECK: %[[A0:.+]] = llvm.getelementptr inbounds %[[BUFFERS]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[P0:.+]] = llvm.load %[[A0]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[A1:.+]] = llvm.getelementptr inbounds %[[BUFFERS]][1] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[P1:.+]] = llvm.load %[[A1]] : !llvm.ptr -> !llvm.ptr
// CHECK: llvm.call @k.body(%[[P0]], %[[P1]], %[[BEGIN]], %[[END]])
// CHECK: llvm.return
module {
  llvm.func @k(%a: !llvm.ptr, %r: !llvm.ptr, %begin: i64, %end: i64) attributes {kiln.kernel, kiln.tile_count = 5 : i64} {
    llvm.return
  }
}

// -----

// Functions that are not kernels are left alone.
// CHECK-LABEL: llvm.func @negative_helper
// CHECK-NOT: .body
module {
  llvm.func @negative_helper(%a: !llvm.ptr, %begin: i64, %end: i64) {
    llvm.return
  }
}
