# Installation layout and the Debian package (cpack -G DEB).
include(GNUInstallDirs)

install(DIRECTORY ${CMAKE_SOURCE_DIR}/resources/models DESTINATION ${CMAKE_INSTALL_DATADIR}/tensorllm-studio
        PATTERN "*.py" EXCLUDE PATTERN "__pycache__" EXCLUDE)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/resources/eval DESTINATION ${CMAKE_INSTALL_DATADIR}/tensorllm-studio)
install(FILES ${CMAKE_SOURCE_DIR}/resources/architectures.json DESTINATION ${CMAKE_INSTALL_DATADIR}/tensorllm-studio)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/tensorllm-studio.desktop DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/tensorllm-studio.svg
        DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/io.github.tensorllm.studio.metainfo.xml DESTINATION ${CMAKE_INSTALL_DATADIR}/metainfo)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR} OPTIONAL)

set(CPACK_PACKAGE_NAME "tensorllm-studio")
set(CPACK_PACKAGE_VENDOR "TensorLLM Studio")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Tucker decomposition of transformer attention (TensorLLM): GUI and CLI")
set(CPACK_PACKAGE_DESCRIPTION "TensorLLM Studio stacks the Q, K, V and O weights of every head of a transformer layer into
 a 4-way tensor and decomposes it with a Tucker decomposition whose factors are shared
 across heads. It reports reconstruction errors, spectra and compression ratios per layer
 and per head, exports compressed weights and denoised checkpoints, and draws figures.")
# No public address yet: .invalid makes that explicit (the Maintainer field needs one).
set(CPACK_PACKAGE_CONTACT "TensorLLM Studio developers <maintainers@tensorllm-studio.invalid>")
set(CPACK_PACKAGE_INSTALL_DIRECTORY "tensorllm-studio")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_DEBIAN_PACKAGE_SECTION "science")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# Shared-library dependencies are computed by dpkg-shlibdeps from the binaries.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "qt6-qpa-plugins, fonts-dejavu-core")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://arxiv.org/abs/2501.15674")
set(CPACK_STRIP_FILES ON)
include(CPack)
