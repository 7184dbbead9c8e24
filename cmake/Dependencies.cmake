# The field's own libraries, from Debian's -dev packages, through pkg-config.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
pkg_check_modules(LIBCRYPTO REQUIRED IMPORTED_TARGET libcrypto>=3.0)
pkg_check_modules(LIBARCHIVE REQUIRED IMPORTED_TARGET libarchive>=3.6)
pkg_check_modules(JSONC REQUIRED IMPORTED_TARGET json-c>=0.15)
pkg_check_modules(LIBCURL REQUIRED IMPORTED_TARGET libcurl>=7.74)
pkg_check_modules(LIBCRYPTSETUP REQUIRED IMPORTED_TARGET libcryptsetup>=2.3)
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka>=1.1)
