{
  "targets": [
    {
      "target_name": "ringleader",
      "sources": [
        "src/binding/module.cc",
        "src/binding/acceptor.cc",
        "src/binding/worker.cc",
        "src/binding/client.cc",
        "src/engine/ring.c",
        "src/engine/bufring.c",
        "src/engine/net.c",
        "src/engine/acceptor.c",
        "src/engine/conn.c",
        "src/engine/dial.c",
        "src/engine/worker.c",
        "src/engine/echo.c",
        "src/engine/proxy.c",
        "src/engine/client.c",
        "src/engine/client_stream.c",
        "src/engine/pattern.c",
        "src/engine/js.c"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(pkg-config --cflags-only-I liburing | sed s/-I//g)"
      ],
      "defines": [
        "NAPI_VERSION=9",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "RL_LIBURING_VERSION=\"<!(pkg-config --modversion liburing)\""
      ],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-std=gnu++17", "-fno-exceptions"],
      "libraries": ["<!@(pkg-config --libs liburing)"]
    }
  ]
}
