// A minimal JSON writer for the delegate's report (no dependency on a JSON library).
#ifndef ONEXN_DELEGATE_JSON_WRITER_H_
#define ONEXN_DELEGATE_JSON_WRITER_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace onexn {

class JsonWriter {
 public:
  JsonWriter& BeginObject() { return Open('{'); }
  JsonWriter& EndObject() { return Close('}'); }
  JsonWriter& BeginArray() { return Open('['); }
  JsonWriter& EndArray() { return Close(']'); }

  JsonWriter& Key(const std::string& key) {
    Separate();
    AppendString(key);
    out_ += ':';
    after_key_ = true;
    return *this;
  }
  JsonWriter& String(const std::string& s) { return Value([&] { AppendString(s); }); }
  JsonWriter& NullableString(const char* s) { return s ? String(s) : Raw("null"); }
  JsonWriter& Int(int64_t v) { return Raw(std::to_string(v)); }
  JsonWriter& Bool(bool v) { return Raw(v ? "true" : "false"); }
  // Finite values only (JSON has no NaN or infinity); 4 significant digits.
  JsonWriter& Double(double v) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.4g", v);
    return Raw(text);
  }
  JsonWriter& Ints(const int* data, int size) {
    BeginArray();
    for (int i = 0; i < size; ++i) Int(data[i]);
    return EndArray();
  }
  JsonWriter& Ints(const std::vector<int>& v) { return Ints(v.data(), int(v.size())); }
  // Inserts an already serialized JSON value.
  JsonWriter& Raw(const std::string& json) { return Value([&] { out_ += json; }); }

  const std::string& str() const { return out_; }

 private:
  template <typename F>
  JsonWriter& Value(F append) {
    Separate();
    append();
    return *this;
  }
  JsonWriter& Open(char c) {
    Separate();
    out_ += c;
    first_ = true;
    return *this;
  }
  JsonWriter& Close(char c) {
    out_ += c;
    first_ = false;
    return *this;
  }
  void Separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_ && !out_.empty()) out_ += ',';
    first_ = false;
  }
  void AppendString(const std::string& s) {
    out_ += '"';
    for (unsigned char c : s) {
      if (c == '"' || c == '\\') {
        out_ += '\\';
        out_ += char(c);
      } else if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", c);
        out_ += buf;
      } else {
        out_ += char(c);
      }
    }
    out_ += '"';
  }

  std::string out_;
  bool first_ = true;
  bool after_key_ = false;
};

}  // namespace onexn

#endif  // ONEXN_DELEGATE_JSON_WRITER_H_
