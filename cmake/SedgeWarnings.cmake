# One warning policy for every sedge target; SEDGE_WERROR (preset dev, CI) makes them errors.
add_library(sedge_warnings INTERFACE)
target_compile_options(sedge_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Wunused -Woverloaded-virtual -Wconversion -Wnull-dereference
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(SEDGE_WERROR)
  target_compile_options(sedge_warnings INTERFACE -Werror)
endif()

# sedge_target(<target>): applies the warning policy; every first-party target calls it.
function(sedge_target target)
  target_link_libraries(${target} PRIVATE sedge_warnings)
endfunction()
