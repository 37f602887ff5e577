# Embeds web/* into sdpp_server: a generated web_assets.cpp holds every file as a byte array (see static_files.h).
# Included from src/CMakeLists.txt after the sdpp_server target exists.
file(GLOB_RECURSE sdpp_web_files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/web/*)
set(sdpp_web_cpp ${CMAKE_CURRENT_BINARY_DIR}/generated/web_assets.cpp)
add_custom_command(
  OUTPUT ${sdpp_web_cpp}
  COMMAND ${CMAKE_COMMAND} -DWEB_DIR=${PROJECT_SOURCE_DIR}/web -DOUT=${sdpp_web_cpp}
          -P ${CMAKE_CURRENT_LIST_DIR}/embed_web.cmake
  DEPENDS ${sdpp_web_files} ${CMAKE_CURRENT_LIST_DIR}/embed_web.cmake
  COMMENT "Embedding the web UI (web/*)"
  VERBATIM)
target_sources(sdpp_server PRIVATE ${sdpp_web_cpp})
