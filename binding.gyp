{
  # `npm ci` runs `node-gyp rebuild` (scripts.install) and builds:
  #   build/Release/wharf_native.node  the addon (runtime/native/*.cc)
  #   build/Release/wharf-init         the static init helper it execs after clone
  #   build/Release/wharf-shim         the per-container monitor of `wharf daemon`
  #   build/Release/wharf_sendfile.node  sendfile(2) for the registry's plain-HTTP blob GETs
  #                                    (server/http/native/; server/ never loads runtime/'s addon)
  #   build/Release/wharf_accept.node  the registry's accept of every waiting connection at once
  #   build/Release/wharf_execve.node  bin/'s re-exec of `wharf serve` under its V8 flags (same pid)
  #   build/Release/wharf_sha256.node  an upload's SHA-256 and file writes on libuv's pool
  #                                    (storage/native/; OpenSSL from the node binary's own exports)
  "targets": [
    {
      "target_name": "wharf_sendfile",
      "sources": ["server/http/native/sendfile.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "wharf_accept",
      "sources": ["server/http/native/accept.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "wharf_sha256",
      "sources": ["storage/native/sha256-writer.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "wharf_execve",
      "sources": ["bin/native/execve.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "wharf_native",
      "sources": ["runtime/native/wharf_native.cc", "runtime/native/devices_bpf.cc", "runtime/native/netlink.cc", "runtime/native/copy_range.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "dependencies": ["wharf-init", "wharf-shim"]
    },
    {
      "target_name": "wharf-init",
      "type": "executable",
      "sources": [
        "runtime/native/init/wharf-init.c",
        "runtime/native/init/seccomp.c",
        "runtime/native/init/rootfs.c",
        "runtime/native/init/in-root.c",
        "runtime/native/init/init-loop.c",
        "runtime/native/init/console.c",
        "runtime/native/init/devices.c"
      ],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "ldflags": ["-static"],
      "libraries": ["-l:libseccomp.a"]
    },
    {
      "target_name": "wharf-shim",
      "type": "executable",
      "sources": ["runtime/native/shim/wharf-shim.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "ldflags": ["-static"]
    }
  ]
}
