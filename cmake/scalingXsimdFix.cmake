# Work around Debian 12's libxsimd-dev (8.1.0-7): its exported target `xsimd`
# has INTERFACE_LINK_LIBRARIES "xtl", yet xsimd's config neither depends on nor
# finds xtl, so everything linking `xsimd` gets a bare `-lxtl` and fails with
# "cannot find -lxtl". xtl is only used with XSIMD_ENABLE_XTL_COMPLEX. If no
# `xtl` target exists, try find_package(xtl); failing that, drop the entry.
# Included by the top-level CMakeLists.txt and by the installed scalingConfig.
if(TARGET xsimd AND NOT TARGET xtl)
  get_target_property(_scaling_xsimd_libs xsimd INTERFACE_LINK_LIBRARIES)
  if(_scaling_xsimd_libs AND "xtl" IN_LIST _scaling_xsimd_libs)
    find_package(xtl CONFIG QUIET)
    if(NOT TARGET xtl)
      list(REMOVE_ITEM _scaling_xsimd_libs xtl)
      set_property(TARGET xsimd PROPERTY INTERFACE_LINK_LIBRARIES "${_scaling_xsimd_libs}")
    endif()
  endif()
  unset(_scaling_xsimd_libs)
endif()
