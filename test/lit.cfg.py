# lit configuration for Kiln's IR, pass and tool tests.

import os

import lit.formats
from lit.llvm import llvm_config

config.name = "KILN"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "unit", "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.kiln_obj_root, "test")

config.environment["FILECHECK_OPTS"] = "--enable-var-scope"
# kiln compile and run read the per-user tuning database by default: point
# it at a folder of the build, so a user's tunings never change a test.
config.environment["XDG_CACHE_HOME"] = os.path.join(
    config.test_exec_root, "xdg-cache"
)
config.substitutions.append(("%kiln_src_root", config.kiln_src_root))
config.substitutions.append(("%onnx_python", config.onnx_python))

# CUDA: "nvrtc" where kiln can compile kernels (NVRTC and the CUDA headers
# of KILN_CUDA_ROOT), "cuda-driver" where a driver (and maybe a GPU) is.
import ctypes
import glob

if os.path.exists(
    os.path.join(config.kiln_cuda_root, "include", "cuda_bf16.h")
) and glob.glob(os.path.join(config.kiln_cuda_root, "lib64", "libnvrtc.so*")):
    config.available_features.add("nvrtc")
try:
    ctypes.CDLL("libcuda.so.1")
    config.available_features.add("cuda-driver")
except OSError:
    pass

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.add_tool_substitutions(
    ["kiln-opt", "kiln"], [config.kiln_tools_dir]
)
