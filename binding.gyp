{
  "targets": [
    {
      "target_name": "oi_native",
      "sources": ["native/addon.cc", "native/tun.cc", "native/udp.cc", "native/aead.cc", "native/offload.cc", "native/checksum.cc", "native/offload-api.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "conditions": [
        ["OS!='linux'", { "sources!": ["native/tun.cc", "native/udp.cc", "native/offload.cc", "native/checksum.cc", "native/offload-api.cc"] }]
      ]
    }
  ]
}
