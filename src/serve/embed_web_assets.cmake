# Build step that writes the page's files (web/serve/*) into a C++ source as byte arrays, so the `vqa`
# binary serves its page without the source tree. Run as: cmake -DROOT=DIR -DFILES="a;b" -DOUT=FILE -P this.
set(body "// Generated from ${ROOT} by embed_web_assets.cmake: the page `vqa serve` serves. Do not edit.\n")
string(APPEND body "#include \"serve/web_assets.h\"\n\nnamespace vqa::serve {\nnamespace {\n")
set(entries "")
set(index 0)
foreach(name ${FILES})
  file(READ "${ROOT}/${name}" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  # One terminating zero keeps an empty file a valid array; it is not part of the file.
  string(APPEND body "const unsigned char kFile${index}[] = {${bytes}0x00};\n")
  string(APPEND entries "      {\"/${name}\", std::string_view(reinterpret_cast<const char*>(kFile${index}), sizeof kFile${index} - 1)},\n")
  math(EXPR index "${index} + 1")
endforeach()
string(APPEND body "}  // namespace\n\nconst std::vector<WebAsset>& webAssets() {\n  static const std::vector<WebAsset> assets{\n")
string(APPEND body "${entries}  };\n  return assets;\n}\n\n}  // namespace vqa::serve\n")
file(WRITE "${OUT}.tmp" "${body}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
