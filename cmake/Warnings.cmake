# Warnings of STYLE.md; -Werror when OSUPDATE_WERROR is on (CI turns it on).
option(OSUPDATE_WERROR "Treat warnings as errors" OFF)
if(DEFINED ENV{CI})
  set(OSUPDATE_WERROR ON)
endif()
add_compile_options(
  -Wall -Wextra -Wshadow -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes -Wvla
  -Wimplicit-fallthrough -Wno-unused-parameter -D_GNU_SOURCE -fno-strict-aliasing)
if(OSUPDATE_WERROR)
  add_compile_options(-Werror)
endif()
