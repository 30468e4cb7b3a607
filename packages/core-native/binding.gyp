{
  "targets": [
    {
      "target_name": "ringleader",
      "sources": [
        "src/binding/module.cc",
        "src/binding/acceptor.cc",
        "src/binding/worker.cc",
        "src/binding/client.cc",
        "src/binding/client_req.cc",
        "<!@(make -s --no-print-directory sources)"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/liburing.mjs include)"
      ],
      "defines": [
        "NAPI_VERSION=9",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "RL_LIBURING_VERSION=\"<!(node scripts/liburing.mjs version)\""
      ],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-std=gnu++17", "-fno-exceptions"],
      "libraries": ["<!@(node scripts/liburing.mjs libs)"],
      "ldflags": ["-Wl,--exclude-libs,liburing.a"]
    }
  ]
}
