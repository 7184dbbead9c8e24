# OSUPDATE_SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer, failing hard on the first report.
option(OSUPDATE_SANITIZE "Build with ASan and UBSan" OFF)
if(OSUPDATE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined -fno-sanitize-recover=all)
endif()
