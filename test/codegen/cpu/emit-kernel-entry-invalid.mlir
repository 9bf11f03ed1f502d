// RUN: kiln-opt %s --pass-pipeline='builtin.module(kiln-cpu-emit-kernel-entry)' --split-input-file --verify-diagnostics

// A kernel must have been lowered with bare pointers and the tile range.
module {
  // expected-error @+1 {{expected a lowered kernel taking buffer pointers and an i64 tile range (got '!llvm.func<void (ptr, i32)>')}}
  llvm.func @negative_signature(%a: !llvm.ptr, %n: i32) attributes {kiln.kernel} {
    llvm.return
  }
}
